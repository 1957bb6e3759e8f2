//! Adding a ticker: type a symbol (with suggestions from `config.json`) and press Enter.

use leptos::prelude::*;

#[component]
pub fn Picker(
    suggestions: Vec<String>,
    /// Adds the typed symbol, or says why it cannot.
    on_add: Callback<String, Result<(), String>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match on_add.run(text.get_untracked()) {
            Ok(()) => {
                text.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    view! {
        <form class="picker" on:submit=submit>
            <label for="add-symbol">"Add a ticker"</label>
            <input
                id="add-symbol"
                name="symbol"
                list="symbol-suggestions"
                autocomplete="off"
                autocapitalize="characters"
                spellcheck="false"
                placeholder="AMZN"
                aria-describedby="add-error"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            />
            <datalist id="symbol-suggestions">
                {suggestions.into_iter().map(|s| view! { <option value=s></option> }).collect::<Vec<_>>()}
            </datalist>
            <button type="submit">"Add"</button>
            <p id="add-error" class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
