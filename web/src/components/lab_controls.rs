use crate::lab::Task;
use crate::session::{ConnInfo, ServerInfo, ServerState, SessionAction};
use protocol::{ConnId, DEFAULT_BACKLOG, Family, PublicServer, Transport};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LabControlsProps {
    /// The bridge is connected (commands can be sent).
    pub online: bool,
    pub task: Task,
    /// Task 2's greeting, as typed.
    pub greeting: AttrValue,
    /// `AF_INET` or `AF_INET6` for the next server.
    pub family: Family,
    /// The server "Start my server" started last.
    pub server: Option<ServerInfo>,
    pub conns: Vec<ConnInfo>,
    pub current_conn: Option<ConnId>,
    pub public_server: Option<PublicServer>,
    pub onaction: Callback<SessionAction>,
}

/// Choose the task, run my lab server, and connect clients.
#[component]
pub fn LabControls(props: &LabControlsProps) -> Html {
    let onaction = &props.onaction;
    // The address being typed is this component's own state.
    let target = use_state(String::new);
    let on_target_input = {
        let target = target.clone();
        Callback::from(move |e: InputEvent| {
            target.set(e.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    let connect_target = {
        let target = target.clone();
        onaction.reform(move |()| SessionAction::ConnectTarget((*target).clone()))
    };
    let on_target_key = {
        let connect_target = connect_target.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                e.prevent_default();
                connect_target.emit(());
            }
        })
    };
    let on_task = onaction.reform(|e: Event| {
        let value = e.target_unchecked_into::<HtmlSelectElement>().value();
        SessionAction::ChooseTask(Task::from_value(&value).unwrap_or_default())
    });
    let on_greeting = onaction.reform(|e: InputEvent| {
        SessionAction::SetGreeting(e.target_unchecked_into::<HtmlInputElement>().value())
    });
    let on_family = onaction.reform(|e: Event| {
        let value = e.target_unchecked_into::<HtmlSelectElement>().value();
        SessionAction::SetFamily(if value == "ipv6" {
            Family::Ipv6
        } else {
            Family::Ipv4
        })
    });
    let on_client = onaction.reform(|e: Event| {
        let value = e.target_unchecked_into::<HtmlSelectElement>().value();
        SessionAction::ChooseClient(value.parse().unwrap_or_default())
    });
    let up = props.server.as_ref().is_some_and(ServerInfo::is_up);
    let paused = props.server.as_ref().is_some_and(|s| s.paused);
    let tcp_server = props
        .server
        .as_ref()
        .is_some_and(|s| s.task.transport() == Transport::Tcp);
    let status = match &props.server {
        None => "Not started yet.".to_string(),
        Some(s) => {
            let what = match s.state {
                ServerState::Starting => "starting…".to_string(),
                ServerState::Listening => match (&s.addr, s.task.transport()) {
                    (Some(addr), Transport::Tcp) => {
                        format!("listening on {addr}, backlog {DEFAULT_BACKLOG}")
                    }
                    (Some(addr), Transport::Udp) => format!("bound to {addr} (UDP)"),
                    (None, _) => "listening".to_string(),
                },
                ServerState::Stopping => "stopping…".to_string(),
                ServerState::Stopped => match &s.addr {
                    Some(addr) => format!("stopped: nothing listens on {addr} now"),
                    None => "stopped".to_string(),
                },
            };
            let paused = if s.paused { "; accept() paused" } else { "" };
            format!("Server {}: {} {what}{paused}", s.id, s.task.title())
        }
    };
    let restart = up && props.server.as_ref().is_some_and(|s| s.task != props.task);
    let start_label = match (up, restart) {
        (true, true) => "Restart my server for this task",
        (true, false) => "Restart my server",
        (false, _) => "Start my server",
    };
    let public = props
        .public_server
        .as_ref()
        .map(|p| format!("The public lab server: {} ({} mode)", p.addr, p.mode));
    html! {
        <section class="panel controls" aria-labelledby="controls-title">
            <h2 id="controls-title">{ "Lab" }</h2>
            <label for="task-select">{ "Task" }</label>
            <select id="task-select" onchange={on_task}>
                { for Task::ALL.iter().map(|t| html! {
                    <option value={t.value()} selected={*t == props.task}>{ t.title() }</option>
                }) }
            </select>
            <p class="hint">{ props.task.hint() }</p>
            if props.task == Task::Greet {
                <label for="greeting-input">{ "The greeting my server sends (a newline is added)" }</label>
                <input id="greeting-input" type="text" autocomplete="off" spellcheck="false"
                    value={props.greeting.clone()} oninput={on_greeting} />
            }
            <label for="family-select">{ "My server's address family" }</label>
            <select id="family-select" onchange={on_family}
                title="socket(AF_INET, ...) listens on 127.0.0.1; socket(AF_INET6, ...) on ::1">
                <option value="ipv4" selected={props.family == Family::Ipv4}>{ "AF_INET: IPv4, 127.0.0.1" }</option>
                <option value="ipv6" selected={props.family == Family::Ipv6}>{ "AF_INET6: IPv6, ::1" }</option>
            </select>
            <div class="buttons">
                <button id="start-server" type="button" class="primary" disabled={!props.online}
                    onclick={onaction.reform(|_| SessionAction::StartServer)}>{ start_label }</button>
                <button id="stop-server" type="button" disabled={!props.online || !up}
                    onclick={onaction.reform(|_| SessionAction::StopServer)}>{ "Stop server" }</button>
                <button id="pause-accept" type="button" aria-pressed={paused.to_string()}
                    disabled={!props.online || !up || !tcp_server}
                    title="Stop calling accept(): new clients wait in the backlog queue of 5"
                    onclick={onaction.reform(|_| SessionAction::TogglePauseAccept)}>
                    { if paused { "Resume accept()" } else { "Pause accept()" } }
                </button>
            </div>
            <p class="server-status" aria-live="polite">{ status }</p>
            <div class="buttons">
                <button id="connect-client" type="button" class="primary" disabled={!props.online}
                    onclick={onaction.reform(|_| SessionAction::ConnectClient)}>{ "Connect a client" }</button>
                <button id="connect-public" type="button" disabled={!props.online}
                    title={public.clone()}
                    onclick={onaction.reform(|_| SessionAction::ConnectPublic)}>{ "Connect to the public server" }</button>
            </div>
            if let Some(public) = public {
                <p class="hint">{ public }</p>
            }
            <div class="target-section">
                <label for="target-input">{ "Or connect to an address the instructor allowed" }</label>
                <div class="buttons target">
                    <input id="target-input" type="text" inputmode="url" placeholder="HOST:PORT"
                        autocomplete="off" spellcheck="false"
                        value={(*target).clone()} oninput={on_target_input} onkeydown={on_target_key} />
                    <button id="connect-target" type="button" disabled={!props.online}
                        onclick={connect_target.reform(|_| ())}>{ "Connect" }</button>
                </div>
            </div>
            <label for="client-select">{ "Current client" }</label>
            <select id="client-select" onchange={on_client} disabled={props.conns.is_empty()}>
                if props.conns.is_empty() {
                    <option value="">{ "No clients yet" }</option>
                }
                { for props.conns.iter().map(|c| html! {
                    <option value={c.id.to_string()} selected={Some(c.id) == props.current_conn}>
                        { c.describe() }
                    </option>
                }) }
            </select>
        </section>
    }
}
