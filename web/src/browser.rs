//! The few browser calls the page makes besides the WebSockets (which live
//! in `hooks::use_bridge` and `hooks::use_watch`): downloads, reading a
//! chosen file, the address bar, the clock, focus, the `<html>` element's
//! attributes, saved preferences, event listeners.
//!
//! Each fails quietly (returns `None` or does nothing) when the browser
//! says no: none of them is worth breaking the page for.

use gloo_events::{EventListener, EventListenerOptions};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, Event, EventTarget, File, HtmlAnchorElement, Url};

/// Calls `callback` for each `event` on `target` until the returned
/// listener is dropped (which removes it). `may_prevent` makes it a
/// listener that may call `prevent_default()` (gloo's are passive
/// otherwise). Boxed, so the page carries one copy of gloo's listener
/// code however many listeners it makes.
pub fn listen(
    target: &EventTarget,
    event: &'static str,
    may_prevent: bool,
    callback: Box<dyn FnMut(&Event)>,
) -> EventListener {
    let options = if may_prevent {
        EventListenerOptions::enable_prevent_default()
    } else {
        EventListenerOptions::default()
    };
    EventListener::new_with_options(target, event, options, callback)
}

/// Offers `content` as a file download named `filename`.
pub fn download(filename: &str, mime: &str, content: &str) {
    let Some(document) = document() else {
        return;
    };
    let parts = js_sys::Array::of1(&JsValue::from_str(content));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(anchor) = document
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(filename);
        anchor.click();
    }
    let _ = Url::revoke_object_url(&url);
}

/// `text` in lower case, for searching without regard to case. In the
/// page it is the browser's own `toLowerCase()`: Rust's would bring its
/// Unicode case tables into the page's wasm (about 8 KB gzipped) to do what
/// the browser already does. Natively (tests) it is Rust's, which agrees.
pub fn lowercase(text: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::JsString::from(text).to_lower_case().into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.to_lowercase()
    }
}

/// Reads a file the student chose, as text.
pub async fn read_text(file: File) -> Result<String, String> {
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| format!("{e:?}"))?;
    text.as_string()
        .ok_or_else(|| "the file is not text".to_string())
}

/// The `?name` or `?name=value` part of the page's address.
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name)
}

/// The page's `/ws` socket: `ws:` or, under https, `wss:`, beside the page
/// (`https://host/co223/` talks to `wss://host/co223/ws`), asking for
/// several messages a frame ([`protocol::LINES_QUERY`]; `use_bridge.rs`
/// and the socket worker split them).
pub fn bridge_url() -> Option<String> {
    socket_url(&format!("ws?{}", protocol::LINES_QUERY))
}

/// The instructor's `/watch` socket for `token`, beside the page.
pub fn watch_url(token: &str) -> Option<String> {
    let token = String::from(js_sys::encode_uri_component(token));
    socket_url(&format!("watch?token={token}"))
}

/// A WebSocket address relative to the page's own: the same host, the same
/// folder, `ws:` or, under https, `wss:`. Relative, so that one built page
/// works at `http://127.0.0.1:8080/` and behind a proxy under a prefix such
/// as `https://lab.example.edu/co223/`.
fn socket_url(relative: &str) -> Option<String> {
    let page = web_sys::window()?.location().href().ok()?;
    let url = Url::new_with_base(relative, &page).ok()?;
    let scheme = if url.protocol() == "https:" {
        "wss:"
    } else {
        "ws:"
    };
    url.set_protocol(scheme);
    Some(url.href())
}

/// The page's address without its query (what students open), e.g.
/// `http://127.0.0.1:8080/`.
pub fn page_address() -> Option<String> {
    let location = web_sys::window()?.location();
    Some(format!(
        "{}{}",
        location.origin().ok()?,
        location.pathname().ok()?
    ))
}

/// Milliseconds since 1970 by the browser's clock.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Sets the document's title (the tab's name).
pub fn set_title(title: &str) {
    if let Some(document) = document() {
        document.set_title(title);
    }
}

/// Moves the keyboard focus to the element with this id, if there is one.
pub fn focus(id: &str) {
    if let Some(element) = document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// Sets (or removes, for `None`) an attribute of `<html>`: the CSS reads
/// `data-theme` and `data-projector` from there.
pub fn set_root_attribute(name: &str, value: Option<&str>) {
    let Some(root) = document().and_then(|d| d.document_element()) else {
        return;
    };
    let _ = match value {
        Some(value) => root.set_attribute(name, value),
        None => root.remove_attribute(name),
    };
}

/// A saved preference.
pub fn load_pref(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(&format!("socket-lab.{key}"))
        .ok()?
}

/// Saves a preference (private windows may refuse; that is fine).
pub fn save_pref(key: &str, value: &str) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
        let _ = storage.set_item(&format!("socket-lab.{key}"), value);
    }
}

/// Scrolls `container` (only it, never the page) so the element with this
/// id is in view. Does nothing when the container does not scroll, as on a
/// phone where panels are stacked and the page scrolls instead.
pub fn reveal_in(container: &web_sys::Element, id: &str) {
    reveal_below(container, id, None);
}

/// [`reveal_in`], for a container whose `sticky` child (a title that
/// stays at its top) covers what scrolls under it: the element is shown
/// fully below that title.
pub fn reveal_below(container: &web_sys::Element, id: &str, sticky: Option<&web_sys::Element>) {
    let Some(element) = document().and_then(|d| d.get_element_by_id(id)) else {
        return;
    };
    if container.scroll_height() <= container.client_height() {
        return;
    }
    let outer = container.get_bounding_client_rect();
    let inner = element.get_bounding_client_rect();
    let margin = 8.0;
    // The visible part starts under the sticky title, if it is there.
    let top = sticky
        .map(|title| title.get_bounding_client_rect().bottom())
        .filter(|&bottom| bottom > outer.top() && bottom < outer.bottom())
        .unwrap_or(outer.top());
    let shift = if inner.top() < top + margin {
        inner.top() - top - margin
    } else if inner.bottom() > outer.bottom() - margin {
        (inner.bottom() - outer.bottom() + margin).min(inner.top() - top - margin)
    } else {
        return;
    };
    container.set_scroll_top(container.scroll_top() + shift.round() as i32);
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}
