//! One real-time connection: the shared sans-IO [`Client`] carried out over the browser's
//! `WebSocket` and `setTimeout`.
//!
//! The machine decides everything; this adapter only opens and closes sockets, sends frames,
//! feeds back what the socket reports and keeps one timer set for the machine's next
//! deadline. Each socket carries a generation number, so a late event from a socket already
//! replaced or closed is ignored. Sockets are never dropped inside their own event handler
//! (that would free the running closure): retired sockets are dropped on a later task.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

use js_sys::Array;
use leptos::prelude::{TimeoutHandle, set_timeout_with_handle};
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::client::{Client, ClientConfig, Event, Input, Output};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::clock::now_ms;

/// Where a connection's events go.
pub type EventSink = Rc<dyn Fn(Event)>;

pub struct Connection {
    inner: RefCell<Inner>,
    sink: EventSink,
}

struct Inner {
    client: Client,
    socket: Option<Socket>,
    generation: u64,
    timer: Option<(i64, TimeoutHandle)>,
}

/// A browser WebSocket with the handlers that must live as long as it does.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// Drops `socket` after the current event handler has returned.
fn retire(socket: Socket) {
    wasm_bindgen_futures::spawn_local(async move { drop(socket) });
}

impl Connection {
    pub fn new(config: ClientConfig, seed: u64, sink: EventSink) -> Rc<Self> {
        Rc::new(Connection {
            inner: RefCell::new(Inner {
                client: Client::new(config, seed),
                socket: None,
                generation: 0,
                timer: None,
            }),
            sink,
        })
    }

    pub fn subscribe(self: &Rc<Self>, id: String, request: GraphqlRequest) {
        self.input(Input::Subscribe { id, request });
    }

    pub fn unsubscribe(self: &Rc<Self>, id: String) {
        self.input(Input::Unsubscribe { id });
    }

    fn input(self: &Rc<Self>, input: Input) {
        let outputs = self.inner.borrow_mut().client.handle(now_ms(), input);
        self.carry_out(outputs);
    }

    fn tick(self: &Rc<Self>) {
        let outputs = {
            let mut inner = self.inner.borrow_mut();
            inner.timer = None;
            inner.client.tick(now_ms())
        };
        self.carry_out(outputs);
    }

    fn carry_out(self: &Rc<Self>, outputs: Vec<Output>) {
        let mut queue = VecDeque::from(outputs);
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Open { url, protocols } => {
                    if self.open(&url, &protocols).is_err() {
                        // The URL was refused outright; the machine backs off as for any
                        // failed connection.
                        let more = self
                            .inner
                            .borrow_mut()
                            .client
                            .handle(now_ms(), Input::Closed);
                        queue.extend(more);
                    }
                }
                Output::Send(text) => {
                    if let Some(socket) = &self.inner.borrow().socket {
                        let _ = socket.ws.send_with_str(&text);
                    }
                }
                Output::Close { code, reason } => {
                    let socket = {
                        let mut inner = self.inner.borrow_mut();
                        // The machine expects no `Closed` for a socket it closed itself.
                        inner.generation += 1;
                        inner.socket.take()
                    };
                    if let Some(socket) = socket {
                        let _ = socket.ws.close_with_code_and_reason(code, &reason);
                        retire(socket);
                    }
                }
                Output::Event(event) => (self.sink)(event),
            }
        }
        self.schedule();
    }

    fn open(self: &Rc<Self>, url: &str, protocols: &[String]) -> Result<(), ()> {
        let old = self.inner.borrow_mut().socket.take();
        if let Some(old) = old {
            retire(old);
        }
        let offered: Array = protocols
            .iter()
            .map(|p| wasm_bindgen::JsValue::from_str(p))
            .collect();
        let ws = WebSocket::new_with_str_sequence(url, &offered).map_err(|_| ())?;
        let generation = {
            let mut inner = self.inner.borrow_mut();
            inner.generation += 1;
            inner.generation
        };
        let me = Rc::downgrade(self);
        let on_open = {
            let me = me.clone();
            Closure::<dyn FnMut()>::new(move || deliver(&me, generation, Input::Opened))
        };
        let on_message = {
            let me = me.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    deliver(&me, generation, Input::Frame(text));
                }
            })
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            if let Some(conn) = current(&me, generation) {
                let socket = conn.inner.borrow_mut().socket.take();
                if let Some(socket) = socket {
                    retire(socket);
                }
                conn.input(Input::Closed);
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.inner.borrow_mut().socket = Some(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
        Ok(())
    }

    /// Keeps one timer set for the machine's next deadline. A timer that would fire too
    /// early is harmless (the machine ignores a tick before its deadline, and the timer is
    /// set again), so a deadline that only moves later — every `ka` moves one — costs
    /// nothing; only an earlier deadline replaces the timer.
    fn schedule(self: &Rc<Self>) {
        let mut inner = self.inner.borrow_mut();
        let Some(deadline) = inner.client.next_deadline() else {
            if let Some((_, handle)) = inner.timer.take() {
                handle.clear();
            }
            return;
        };
        if inner.timer.as_ref().is_some_and(|(at, _)| *at <= deadline) {
            return;
        }
        if let Some((_, handle)) = inner.timer.take() {
            handle.clear();
        }
        let delay = (deadline - now_ms()).max(0) as u64;
        let me = Rc::downgrade(self);
        let fire = move || {
            if let Some(conn) = me.upgrade() {
                conn.tick();
            }
        };
        if let Ok(handle) = set_timeout_with_handle(fire, Duration::from_millis(delay)) {
            inner.timer = Some((deadline, handle));
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        if let Some((_, handle)) = inner.timer.take() {
            handle.clear();
        }
    }
}

fn current(me: &Weak<Connection>, generation: u64) -> Option<Rc<Connection>> {
    me.upgrade()
        .filter(|conn| conn.inner.borrow().generation == generation)
}

fn deliver(me: &Weak<Connection>, generation: u64, input: Input) {
    if let Some(conn) = current(me, generation) {
        conn.input(input);
    }
}
