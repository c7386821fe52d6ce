//! The instructor's page (`/?instructor=TOKEN`): every session of the
//! bridge live, and one followed, read-only, with the student's own views
//! of the trace; it can be projected to the class.

use crate::browser;
use crate::components::{
    CodePanel, EventDetail, InstructorHeader, SessionBar, SessionList, TraceViews, WatchProblemBox,
    follow_code,
};
use crate::format;
use crate::hooks::{use_interval, use_watch};
use crate::instructor::{InstructorState, WatchAction, WatchProblem};
use crate::prefs::Theme;
use crate::session::BridgeStatus;
use crate::trace_view::{TraceAction, TraceView};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::KeyboardEvent;
use yew::prelude::*;

/// How often "12 s ago" is brought up to date.
const AGE_TICK_MS: u32 = 1000;

/// Where the list's order is kept in the browser.
const SAVED_SORT: &str = "session-sort";

fn initial_state() -> InstructorState {
    let mut state = InstructorState::new(
        browser::load_pref("theme")
            .map(|v| Theme::from_value(&v))
            .unwrap_or_default(),
    );
    // The order the instructor chose last time (by progress, by activity).
    state.sort = browser::load_pref(SAVED_SORT)
        .map(|v| crate::instructor::SessionSort::from_value(&v))
        .unwrap_or_default();
    state
}

/// The student's line behind the selected event, for an event of their
/// own program: its file's lane and the line.
fn student_line(view: &TraceView) -> Option<(protocol::Lane, usize)> {
    let entry = view.selected_entry()?;
    let source = entry.event.source.as_ref()?;
    let lane = protocol::program::lane_of_file(&source.file);
    Some((lane, source.line as usize))
}

#[component]
pub fn InstructorApp() -> Html {
    let token = use_memo((), |_| browser::query("instructor").unwrap_or_default());
    let watch = use_reducer(initial_state);
    use_watch(&token, &watch);

    let onwatch = {
        let dispatcher = watch.dispatcher();
        use_callback((), move |action: WatchAction, _| {
            dispatcher.dispatch(action)
        })
    };
    let ontrace = {
        let dispatcher = watch.dispatcher();
        use_callback((), move |action: TraceAction, _| {
            dispatcher.dispatch(WatchAction::View(action))
        })
    };
    let now = use_state(browser::now_ms);
    {
        let now = now.setter();
        use_interval(
            true,
            AGE_TICK_MS,
            Callback::from(move |()| now.set(browser::now_ms())),
        );
    }
    let page_address = use_memo((), |_| browser::page_address().unwrap_or_default());

    let projecting = watch.projecting;
    // Display preferences live on <html>, where the CSS reads them.
    use_effect_with(watch.theme, |&theme| {
        let theme_attr = (theme != Theme::Auto).then_some(theme.value());
        browser::set_root_attribute("data-theme", theme_attr);
        browser::save_pref("theme", theme.value());
    });
    // Projecting is the projector mode of the student's page. Set while
    // rendering, not in an effect: the views' own effects (which scroll to
    // the newest event) run before this component's and must see the
    // large type already.
    {
        let shown = use_mut_ref(|| false);
        if *shown.borrow() != projecting {
            browser::set_root_attribute("data-projector", projecting.then_some("on"));
            *shown.borrow_mut() = projecting;
        }
    }
    use_effect_with((), |_| browser::set_title("Socket Lab · instructor view"));
    use_effect_with(watch.sort, |sort| {
        browser::save_pref(SAVED_SORT, sort.value())
    });
    // The student's line for the selected event stays in sight in their
    // code (the pane scrolls).
    let line = student_line(&watch.view);
    use_effect_with((line, watch.view.selected), |(line, _)| {
        let pane = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("follow-code"));
        if let (Some((lane, n)), Some(pane)) = (line, pane) {
            let id = format!("follow-{}-{n}", crate::format::lane_name(*lane));
            let title = pane.query_selector("#follow-code-title").ok().flatten();
            browser::reveal_below(&pane, &id, title.as_ref());
        }
    });
    // Escape leaves projection from anywhere on the page, unless something
    // used the key already (Escape in the event log goes back to live).
    {
        let onwatch = onwatch.clone();
        use_effect_with(projecting, move |&projecting| {
            let window = web_sys::window().filter(|_| projecting);
            // It may take the key (prevent its default).
            let listener = window.map(|window| {
                let on_key = move |event: &web_sys::Event| {
                    let Some(e) = event.dyn_ref::<KeyboardEvent>() else {
                        return;
                    };
                    if e.key() == "Escape" && !e.default_prevented() {
                        e.prevent_default();
                        onwatch.emit(WatchAction::Project(false));
                    }
                };
                browser::listen(&window, "keydown", true, Box::new(on_key))
            });
            // Dropping the listener removes it.
            move || drop(listener)
        });
    }
    // The keyboard focus follows: to "Back" when projecting, and to
    // "Project" when back (not on the first render).
    {
        let first = use_mut_ref(|| true);
        use_effect_with(projecting, move |&projecting| {
            if std::mem::take(&mut *first.borrow_mut()) {
                return;
            }
            browser::focus(if projecting {
                "back-button"
            } else {
                "project-button"
            });
        });
    }

    let ages: Rc<Vec<Option<AttrValue>>> = Rc::new(
        watch
            .sessions
            .iter()
            .map(|s| watch.idle_us(s, *now).map(|us| format::ago(us).into()))
            .collect(),
    );
    let header = html! {
        <InstructorHeader
            status={watch.status}
            ever_opened={watch.ever_opened}
            bridge={watch.bridge.clone().map(AttrValue::from)}
            theme={watch.theme}
            on_theme={onwatch.reform(|()| WatchAction::CycleTheme)}
        />
    };
    let problem = watch
        .problem
        .clone()
        .map(|problem| html! { <WatchProblemBox {problem} onaction={onwatch.clone()} /> });

    // A link the bridge never accepted: nothing else to show.
    if watch.problem == Some(WatchProblem::BadLink) && !watch.ever_opened {
        return html! {
            <div class="app instructor">
                { header }
                <main class="watch-alone">{ problem }</main>
            </div>
        };
    }

    let followed_view = match &watch.followed {
        None => html! {
            <div class="panel pick-session">
                <h2 id="followed-title">{ "Pick a session to follow" }</h2>
                <p class="hint">
                    { "Its trace appears here, live and read-only: the sequence diagram, the event log, \
                       the selected event and the student's code. Then project it to the class." }
                </p>
            </div>
        },
        Some(followed) => {
            let view = &watch.view;
            let number = view.selected_number();
            let left = watch.followed_left();
            let position = match (view.selected, view.trace.len()) {
                (_, 0) => "No events".to_string(),
                (Some(_), n) => format!("Event {number} of {n}"),
                (None, 1) if left => "1 event".to_string(),
                (None, n) if left => format!("{n} events"),
                (None, 1) => "1 event, live".to_string(),
                (None, n) => format!("{n} events, live"),
            };
            let shared = followed.server_code.is_some() || followed.client_code.is_some();
            let empty_text = if followed.streaming {
                "No events in this session yet."
            } else {
                "Loading the session…"
            };
            html! {
                <>
                    <SessionBar
                        followed={followed.clone()}
                        {left}
                        online={watch.status == BridgeStatus::Open}
                        {projecting}
                        position={AttrValue::from(position)}
                        live={view.selected.is_none()}
                        onaction={onwatch.clone()}
                    />
                    <div class="followed-body">
                        <div class="column trace">
                            // Keyed by projecting: the views start again at the
                            // newest event when their size changes.
                            <TraceViews
                                key={format!("v{projecting}")}
                                trace={view.trace.clone()}
                                filter={view.filter.clone()}
                                selected={view.selected}
                                shown_upto={None::<u64>}
                                empty_text={empty_text}
                                onaction={ontrace.clone()}
                            />
                        </div>
                        <div class="column right">
                            <EventDetail entry={view.selected_entry()} {number} />
                            // The student's own programs once their page
                            // shared them; the lab's code too, except for
                            // an event of the student's program (its line
                            // is in theirs).
                            if shared {
                                { follow_code(&followed.server_code, &followed.client_code, line) }
                            }
                            if !shared || line.is_none() {
                                <CodePanel task={watch.task_shown()} selected={view.code_selection()} event={view.selected} />
                            }
                        </div>
                    </div>
                </>
            }
        }
    };

    html! {
        <div class={classes!("app", "instructor", projecting.then_some("projecting"))}>
            // The class sees the session, not the page's own title bar
            // (a screen reader still finds the page's title, in <main>).
            if !projecting {
                { header }
            }
            { for problem }
            <main class="watch-layout">
                if projecting {
                    <h1 class="sr-only">{ "Socket Lab · instructor view" }</h1>
                } else {
                    <SessionList
                        sessions={watch.sessions.clone()}
                        {ages}
                        followed={watch.followed_summary().map(|s| s.id)}
                        page_address={AttrValue::from((*page_address).clone())}
                        let_in={watch.bridge.is_some()}
                        sort={watch.sort}
                        onaction={onwatch.clone()}
                    />
                }
                <section class="followed-pane" aria-labelledby="followed-title">
                    { followed_view }
                </section>
            </main>
        </div>
    }
}
