use crate::session::{self, SessionAction};
use protocol::{Bytes, ClientMsg, Data};
use web_sys::{HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// The bridge's limit on one command, in bytes (from its hello).
    pub max_message_bytes: Option<u32>,
    /// The current client (the limit depends on its number, a little).
    pub conn: Option<protocol::ConnId>,
    /// Counts queued sends: when it changes, the box is emptied.
    pub sends_queued: u64,
    /// A refused send's text to put back: `(n, text)`.
    pub returned: Option<(u64, String)>,
    /// A client is connected and may send.
    pub can_send: bool,
    /// The current client can half-close (TCP, not yet shut down).
    pub can_shutdown: bool,
    /// The current client is not closed yet.
    pub can_close: bool,
    pub onaction: Callback<SessionAction>,
}

/// What the student types, as text or hex, and the half-close and close
/// buttons. The draft is this component's own state, as in todomvc. It is
/// emptied only when the page queued the send: a send refused (too long,
/// no client, not connected, or turned down by the bridge) keeps the text.
#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let draft = use_state(String::new);
    let hex = use_state(|| false);
    {
        let draft = draft.clone();
        use_effect_with(props.sends_queued, move |&queued| {
            if queued > 0 {
                draft.set(String::new());
            }
        });
    }
    {
        let draft = draft.clone();
        use_effect_with(props.returned.clone(), move |returned| {
            if let Some((_, text)) = returned
                && draft.is_empty()
            {
                draft.set(text.clone());
            }
        });
    }

    // What the draft would send, or why it cannot be sent.
    let parsed: Result<Data, String> = if *hex {
        Bytes::from_hex(&draft)
            .map(Data::Hex)
            .map_err(|e| format!("Not hex: {e}"))
    } else {
        Ok(Data::Text((*draft).clone()))
    };
    // The most this message may carry: the bridge's limit is on the whole
    // command, so the page works it out for this client and encoding.
    let most = props
        .max_message_bytes
        .map(|limit| session::largest_payload(limit, props.conn.unwrap_or(1), *hex));
    let too_long = match (&parsed, props.max_message_bytes) {
        (Ok(data), Some(limit)) if !data.is_empty() => session::fits(
            limit,
            &ClientMsg::Send {
                conn: props.conn.unwrap_or(1),
                data: data.clone(),
            },
        )
        .is_err(),
        _ => false,
    };
    let count = match (&parsed, most) {
        (Ok(data), Some(most)) if too_long => {
            format!(
                "{} bytes: too long, at most {most} fit in one message",
                data.len()
            )
        }
        (Ok(data), Some(most)) => format!("{} of {most} bytes", data.len()),
        (Ok(data), None) if data.len() == 1 => "1 byte".to_string(),
        (Ok(data), None) => format!("{} bytes", data.len()),
        (Err(why), _) => why.clone(),
    };

    let send = {
        let draft = draft.clone();
        let parsed = parsed.clone();
        let onaction = props.onaction.clone();
        Callback::from(move |()| {
            if draft.is_empty() {
                return;
            }
            // The reducer checks the limit and says why if it refuses;
            // the box is emptied only once the send is queued.
            match &parsed {
                Ok(data) => onaction.emit(SessionAction::Send {
                    data: data.clone(),
                    typed: (*draft).clone(),
                }),
                Err(why) => onaction.emit(SessionAction::Warn(why.clone())),
            }
        })
    };
    let on_input = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            draft.set(e.target_unchecked_into::<HtmlTextAreaElement>().value());
        })
    };
    let on_key = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            // Enter sends; Shift+Enter is a new line; composing (IME) is left alone.
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                send.emit(());
            }
        })
    };
    let on_mode = {
        let hex = hex.clone();
        Callback::from(move |e: Event| {
            hex.set(e.target_unchecked_into::<HtmlSelectElement>().value() == "hex");
        })
    };
    let placeholder = if *hex {
        "Hex bytes, e.g. 68 65 6c 6c 6f 0a"
    } else {
        "Type a message. Enter sends, Shift+Enter adds a new line"
    };
    html! {
        <section class="panel composer" aria-labelledby="composer-title">
            <h2 id="composer-title">{ "Send from the client" }</h2>
            <label for="message-input" class="sr-only">{ "Message" }</label>
            <textarea
                id="message-input"
                rows="2"
                value={(*draft).clone()}
                placeholder={placeholder}
                oninput={on_input}
                onkeydown={on_key}
                aria-describedby="byte-count"
            />
            <div class="buttons">
                <label class="inline" for="send-mode">{ "As" }</label>
                <select id="send-mode" onchange={on_mode}>
                    <option value="text" selected={!*hex}>{ "Text" }</option>
                    <option value="hex" selected={*hex}>{ "Hex" }</option>
                </select>
                <span id="byte-count" class={classes!("byte-count", (parsed.is_err() || too_long).then_some("bad"))}>
                    { count }
                </span>
                <button id="send-button" type="button" class="primary"
                    disabled={!props.can_send || draft.is_empty() || parsed.is_err()}
                    onclick={send.reform(|_| ())}>{ "send()" }</button>
            </div>
            <div class="buttons">
                <button id="shutdown-button" type="button" disabled={!props.can_shutdown}
                    title="shutdown(SHUT_WR): send no more, keep receiving"
                    onclick={props.onaction.reform(|_| SessionAction::Shutdown)}>{ "shutdown(SHUT_WR)" }</button>
                <button id="close-button" type="button" disabled={!props.can_close}
                    onclick={props.onaction.reform(|_| SessionAction::Close)}>{ "close()" }</button>
            </div>
        </section>
    }
}
