//! The dashboard's components in a real browser (wasm-bindgen-test in headless Chromium):
//! what a user sees for given state, and what a user's input does.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use leptos::prelude::*;
use quotecast_frontend::browser::web::{remember_selection, saved_selection};
use quotecast_frontend::model::ticker::TickerState;
use quotecast_frontend::ui::badge::StatusBadge;
use quotecast_frontend::ui::card::TickerCard;
use quotecast_frontend::ui::picker::Picker;
use quotecast_frontend::ui::redraw::{REFRESH, RefreshClock};
use quotecast_frontend::ui::ticker_entry::TickerEntry;
use quotecast_shared::quote::Quote;
use quotecast_shared::realtime::ErrorObject;
use quotecast_shared::realtime::client::ConnectionState;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts `view` in a fresh container and returns the container.
fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> Element {
    let document = document();
    let host: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&host).unwrap();
    // The mounted view lives as long as the page does.
    std::mem::forget(leptos::mount::mount_to(host.clone(), view));
    host.into()
}

fn text(root: &Element, selector: &str) -> String {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
        .text_content()
        .unwrap_or_default()
}

fn texts(root: &Element, selector: &str) -> Vec<String> {
    let nodes = root.query_selector_all(selector).unwrap();
    (0..nodes.length())
        .map(|i| nodes.item(i).unwrap().text_content().unwrap_or_default())
        .collect()
}

fn bar(t: i64, close: f64, previous: Option<f64>) -> Quote {
    Quote::new(
        "AMZN",
        t,
        [close - 1.0, close + 2.0, close - 2.0, close],
        1_234_567,
    )
    .unwrap()
    .with_previous_close(previous)
    .unwrap()
}

/// Waits `ms` on the browser's clock.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

/// Under the dashboard's refresh clock a card that has been quiet draws a bar at once; bars
/// that follow within a refresh period wait for the next tick (its table for the first tick
/// after about a second), while the test attributes follow every bar.
#[wasm_bindgen_test]
async fn a_busy_card_catches_up_on_the_refresh_clock() {
    let entry = TickerEntry::new("AMZN");
    let state = entry.state;
    let clock = RwSignal::new(0_u64);
    let root = mount(move || {
        provide_context(RefreshClock(clock));
        view! { <TickerCard entry on_remove=Callback::new(|_: String| {}) /> }
    });
    leptos::task::tick().await;
    let period = REFRESH.as_millis() as i32;
    sleep(period + 50).await;
    state.update(|s: &mut TickerState| {
        s.apply(bar(3_600_000, 100.0, None));
    });
    leptos::task::tick().await;
    assert_eq!(
        text(&root, ".price"),
        "100.00",
        "a quiet card draws at once"
    );
    for (i, close) in [101.0, 102.0].into_iter().enumerate() {
        state.update(|s: &mut TickerState| {
            s.apply(bar(3_601_000 + i as i64 * 1_000, close, None));
        });
        leptos::task::tick().await;
    }
    let card = root.query_selector("article").unwrap().unwrap();
    assert_eq!(
        text(&root, ".price"),
        "100.00",
        "a busy card waits for the clock"
    );
    assert_eq!(card.get_attribute("data-updates").as_deref(), Some("3"));
    clock.update(|t| *t += 1);
    leptos::task::tick().await;
    assert_eq!(
        text(&root, ".price"),
        "102.00",
        "the tick draws the newest bar"
    );
    // The table of bars keeps a slower pace: about once a second while busy.
    let table_rows = || texts(&root, "tbody tr:not(.empty) td:first-child").len();
    assert_eq!(table_rows(), 1);
    sleep(800).await;
    clock.update(|t| *t += 1);
    leptos::task::tick().await;
    assert_eq!(table_rows(), 3, "the table caught up");
}

#[wasm_bindgen_test]
async fn a_card_shows_price_change_chart_and_recent_bars() {
    let entry = TickerEntry::new("AMZN");
    let state = entry.state;
    let removed = Arc::new(Mutex::new(Vec::<String>::new()));
    let on_remove = {
        let removed = removed.clone();
        Callback::new(move |s: String| removed.lock().unwrap().push(s))
    };
    let root = mount(move || view! { <TickerCard entry on_remove /> });
    leptos::task::tick().await;
    assert_eq!(text(&root, ".price"), "—");
    assert_eq!(text(&root, ".change"), "waiting for quotes…");
    assert!(texts(&root, "tbody tr:not(.empty)").is_empty());
    // Loading, then history refused for good: the card says why instead of "loading…".
    state.update(|s: &mut TickerState| s.loading = true);
    leptos::task::tick().await;
    assert_eq!(text(&root, ".change"), "loading…");
    state.update(|s: &mut TickerState| {
        s.loading = false;
        s.history_unavailable = Some("DataSourceUnavailable: no store".to_owned());
    });
    leptos::task::tick().await;
    assert_eq!(
        text(&root, ".change"),
        "waiting for quotes… (no history: DataSourceUnavailable: no store)"
    );

    state.update(|s: &mut TickerState| {
        s.apply(bar(3_600_000, 100.0, None));
        s.apply(bar(3_601_000, 1_234.5, Some(1_300.0)));
    });
    leptos::task::tick().await;
    let card = root.query_selector("article").unwrap().unwrap();
    assert_eq!(text(&root, ".price"), "1,234.50");
    assert_eq!(text(&root, ".change"), "-65.50 (-5.04%)");
    assert!(card.class_list().contains("down"));
    assert_eq!(card.get_attribute("data-updates").as_deref(), Some("2"));
    assert_eq!(card.get_attribute("data-bars").as_deref(), Some("2"));
    // Two rising candles (close above open) in one path, none falling; price labels.
    let up = root.query_selector(".chart path.up").unwrap().unwrap();
    assert_eq!(up.get_attribute("d").unwrap().matches('Z').count(), 2);
    let down = root.query_selector(".chart path.down").unwrap().unwrap();
    assert_eq!(down.get_attribute("d").as_deref(), Some(""));
    assert!(!texts(&root, ".price-tick").join("").is_empty());
    assert_eq!(text(&root, ".last-price"), "1,234.50");
    // The readout shows the last bar until a bar is pointed at.
    assert_eq!(
        text(&root, ".readout"),
        "01:00:01  O 1,233.50  H 1,236.50  L 1,232.50  C 1,234.50  V 1,234,567"
    );
    let rows = texts(&root, "tbody tr:not(.empty) td:first-child");
    assert_eq!(rows, ["01:00:01", "01:00:00"], "newest first");
    assert_eq!(
        texts(&root, "tbody tr:first-child td"),
        [
            "01:00:01",
            "1,234.50",
            "1,233.50",
            "1,236.50",
            "1,232.50",
            "1,234,567"
        ]
    );

    // The Line option: one close line instead of candles, and back.
    let button =
        |css: &str| -> HtmlElement { root.query_selector(css).unwrap().unwrap().unchecked_into() };
    assert_eq!(
        button(".chart-controls .style")
            .get_attribute("aria-pressed")
            .as_deref(),
        Some("false")
    );
    button(".chart-controls .style").click();
    leptos::task::tick().await;
    assert_eq!(
        button(".chart-controls .style")
            .get_attribute("aria-pressed")
            .as_deref(),
        Some("true")
    );
    let line = root.query_selector(".chart path.line").unwrap().unwrap();
    let d = line.get_attribute("d").unwrap();
    assert!(d.starts_with('M') && d.matches('L').count() == 1, "{d}");
    assert_eq!(up.get_attribute("d").as_deref(), Some(""), "no candles");
    button(".chart-controls .style").click();
    leptos::task::tick().await;
    assert_eq!(line.get_attribute("d").as_deref(), Some(""));
    assert_eq!(up.get_attribute("d").unwrap().matches('Z').count(), 2);
    // Longer ranges open once history holds more than half of them.
    let ranges = || {
        (0..3)
            .map(|i| {
                let b = button(&format!(".chart-controls .range:nth-of-type({})", i + 2));
                (b.text_content().unwrap(), b.has_attribute("disabled"))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ranges(),
        [
            ("60".into(), false),
            ("120".into(), true),
            ("240".into(), true)
        ]
    );
    state.update(|s: &mut TickerState| {
        for i in 0..100 {
            s.apply(bar(3_500_000 + i * 1_000, 100.0, None));
        }
    });
    leptos::task::tick().await;
    sleep(300).await;
    assert_eq!(
        ranges(),
        [
            ("60".into(), false),
            ("120".into(), false),
            ("240".into(), true)
        ]
    );
    button(".chart-controls .range:nth-of-type(3)").click();
    leptos::task::tick().await;
    sleep(300).await;
    assert_eq!(
        button(".chart-controls .range:nth-of-type(3)")
            .get_attribute("aria-pressed")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        up.get_attribute("d").unwrap().matches('Z').count()
            + down.get_attribute("d").unwrap().matches('Z').count(),
        102,
        "every bar held drawn at 120"
    );

    let remove: HtmlElement = root
        .query_selector("button[aria-label='Remove AMZN']")
        .unwrap()
        .unwrap()
        .unchecked_into();
    remove.click();
    assert_eq!(*removed.lock().unwrap(), ["AMZN"]);
}

#[wasm_bindgen_test]
async fn the_picker_adds_on_enter_and_shows_why_not() {
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let on_add = {
        let asked = asked.clone();
        Callback::new(move |s: String| {
            asked.lock().unwrap().push(s.clone());
            if s == "bad" {
                Err("BAD is not a ticker".to_owned())
            } else {
                Ok(())
            }
        })
    };
    let suggestions = vec!["AMZN".to_owned(), "TSLA".to_owned()];
    let root = mount(move || view! { <Picker suggestions on_add /> });
    leptos::task::tick().await;
    let options: Vec<String> = {
        let nodes = root.query_selector_all("datalist option").unwrap();
        (0..nodes.length())
            .map(|i| {
                nodes
                    .item(i)
                    .unwrap()
                    .unchecked_into::<Element>()
                    .get_attribute("value")
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(options, ["AMZN", "TSLA"]);

    let input: HtmlInputElement = root
        .query_selector("input")
        .unwrap()
        .unwrap()
        .unchecked_into();
    let submit: HtmlElement = root
        .query_selector("button[type=submit]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    let type_text = |value: &str| {
        input.set_value(value);
        input
            .dispatch_event(&web_sys::Event::new("input").unwrap())
            .unwrap();
    };

    type_text("bad");
    submit.click();
    leptos::task::tick().await;
    assert_eq!(text(&root, ".error"), "BAD is not a ticker");
    assert_eq!(input.value(), "bad", "kept for correction");

    type_text("tsla");
    submit.click();
    leptos::task::tick().await;
    assert_eq!(text(&root, ".error"), "");
    assert_eq!(input.value(), "", "cleared after adding");
    assert_eq!(*asked.lock().unwrap(), ["bad", "tsla"]);
}

#[wasm_bindgen_test]
async fn the_badge_counts_down_and_explains_a_refusal() {
    let connections = RwSignal::new(vec![None, None]);
    let now = RwSignal::new(1_000_000_i64);
    let root = mount(move || view! { <StatusBadge connections now /> });
    leptos::task::tick().await;
    let badge = root.query_selector("#status").unwrap().unwrap();
    assert_eq!(badge.get_attribute("data-state").as_deref(), Some("idle"));

    connections.update(|c| {
        c[0] = Some(ConnectionState::Live);
        c[1] = Some(ConnectionState::Reconnecting {
            at_ms: 1_003_000,
            attempt: 2,
        });
    });
    leptos::task::tick().await;
    assert_eq!(
        badge.get_attribute("data-state").as_deref(),
        Some("reconnecting")
    );
    assert_eq!(badge.text_content().unwrap(), "reconnecting in 3 s");
    now.set(1_002_500);
    leptos::task::tick().await;
    assert_eq!(badge.text_content().unwrap(), "reconnecting in 1 s");

    connections.update(|c| {
        c[1] = Some(ConnectionState::Live);
    });
    leptos::task::tick().await;
    assert_eq!(badge.text_content().unwrap(), "live");
    assert!(root.query_selector(".alert").unwrap().is_none());

    connections.update(|c| {
        c[0] = Some(ConnectionState::Failed {
            errors: vec![ErrorObject::new(
                "UnauthorizedException",
                "You are not authorized",
            )],
        });
    });
    leptos::task::tick().await;
    assert_eq!(badge.text_content().unwrap(), "offline");
    assert!(text(&root, ".alert").contains("Check `apiKey` in config.json"));
}

#[wasm_bindgen_test]
fn the_selection_survives_in_storage_and_the_address_bar() {
    let symbols = vec!["AMZN".to_owned(), "^GSPC".to_owned()];
    remember_selection(&symbols);
    assert_eq!(saved_selection().as_deref(), Some("AMZN,^GSPC"));
    let search = web_sys::window().unwrap().location().search().unwrap();
    assert_eq!(search, "?symbols=AMZN,%5EGSPC");
    remember_selection(&[]);
    assert_eq!(saved_selection().as_deref(), Some(""));
}
