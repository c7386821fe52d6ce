//! Predict, then observe: the question replay stops for, and then what
//! happened and why (see `predict`).

use crate::predict::{Answer, Given, Kind, Moment};
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PredictCardProps {
    /// The question replay stands before, if any.
    pub asking: Option<Moment>,
    /// The selected event's question, answered: what the student said.
    pub revealed: Option<(Moment, Given)>,
    /// Replaying a trace (questions are asked only then).
    pub replaying: bool,
    /// How many questions the trace has, and the kinds it has none of.
    pub count: usize,
    pub missing: Vec<Kind>,
    /// The student answered (or skipped) the question about this event.
    pub onanswer: Callback<(u64, Given)>,
    /// Plays on after an answer.
    pub oncontinue: Callback<()>,
}

/// Asks before the trace shows (a number, or a few choices), then says
/// what the student said beside what happened, with one sentence of why.
/// One component for both (each costs the page's download): keyboard
/// focus goes to the question when replay stops for it, and to "Continue"
/// once it is answered.
#[component]
pub fn PredictCard(props: &PredictCardProps) -> Html {
    let chosen = use_state(|| None::<usize>);
    let problem = use_state(|| None::<&'static str>);
    let number = use_node_ref();
    // A new question takes the focus (the number box, or the first
    // choice) and starts afresh; an answer gives it to "Continue".
    let showing = match (&props.asking, &props.revealed) {
        (Some(m), _) if matches!(m.answer, Answer::Number(_)) => Some((m.at, "predict-number")),
        (Some(m), _) => Some((m.at, "predict-choice-0")),
        (None, Some((m, _))) => Some((m.at, "predict-continue")),
        (None, None) => None,
    };
    {
        let (chosen, problem) = (chosen.clone(), problem.clone());
        use_effect_with(showing, move |showing| {
            if let Some((_, id)) = showing {
                chosen.set(None);
                problem.set(None);
                crate::browser::focus(id);
            }
        });
    }

    if let Some(moment) = &props.asking {
        let at = moment.at;
        let onsubmit = {
            let (chosen, problem, number, answer) = (
                chosen.clone(),
                problem.clone(),
                number.clone(),
                moment.answer.clone(),
            );
            let onanswer = props.onanswer.clone();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let given = match answer {
                    Answer::Number(_) => number
                        .cast::<HtmlInputElement>()
                        .and_then(|i| i.value().trim().parse::<usize>().ok())
                        .map(Given::Number)
                        .ok_or("Type a whole number of bytes (0 or more), or press Skip."),
                    Answer::Choice { .. } => (*chosen)
                        .map(Given::Choice)
                        .ok_or("Pick one of the answers, or press Skip."),
                };
                match given {
                    Ok(given) => onanswer.emit((at, given)),
                    Err(why) => problem.set(Some(why)),
                }
            })
        };
        let input = match &moment.answer {
            Answer::Number(_) => html! {
                <div class="predict-number">
                    <input id="predict-number" ref={number} type="number" min="0" step="1"
                        inputmode="numeric" autocomplete="off" aria-describedby="predict-context" />
                    <label for="predict-number" class="inline">{ "bytes" }</label>
                </div>
            },
            Answer::Choice { choices, .. } => html! {
                <div class="predict-choices">
                    { for choices.iter().enumerate().map(|(i, choice)| {
                        let chosen = chosen.clone();
                        let id = format!("predict-choice-{i}");
                        html! {
                            <div class="predict-choice">
                                <input type="radio" name="predict-choice" id={id.clone()}
                                    value={i.to_string()} checked={*chosen == Some(i)}
                                    onchange={Callback::from(move |_| chosen.set(Some(i)))} />
                                <label for={id} class="inline">{ choice }</label>
                            </div>
                        }
                    }) }
                </div>
            },
        };
        return html! {
            <section id="predict" class="panel predict asking" aria-labelledby="predict-title">
                <h2 id="predict-title">{ "Predict, then observe" }</h2>
                <p id="predict-context" class="predict-context">{ &moment.context }</p>
                <form class="predict-form" {onsubmit}>
                    <fieldset>
                        <legend id="predict-question">{ &moment.question }</legend>
                        { input }
                    </fieldset>
                    if let Some(why) = *problem {
                        <p class="predict-problem" role="alert">{ why }</p>
                    }
                    <div class="predict-buttons">
                        <button type="submit" id="predict-show" class="primary">{ "Show me" }</button>
                        <button type="button" id="predict-skip"
                            onclick={props.onanswer.reform(move |_| (at, Given::Skipped))}>{ "Skip" }</button>
                        <span class="hint">{ "Replay waits here; answers count toward nothing." }</span>
                    </div>
                </form>
            </section>
        };
    }

    if let Some((moment, given)) = &props.revealed {
        let answer = &moment.answer;
        let right = answer.is_right(given);
        let verdict = match given {
            Given::Skipped => format!("The answer: {}.", answer.correct_text()),
            given if right => format!("You said {}: right.", answer.given_text(given)),
            given => format!(
                "You said {}; it was {}.",
                answer.given_text(given),
                answer.correct_text()
            ),
        };
        return html! {
            <section id="predict" class="panel predict revealed" aria-labelledby="predict-title">
                <h2 id="predict-title">{ "Predict, then observe" }</h2>
                <p class="predict-question">{ &moment.question }</p>
                <p id="predict-verdict" class={classes!("predict-verdict", right.then_some("right"))}>
                    <span aria-hidden="true">{ if right { "✓ " } else { "→ " } }</span>
                    { verdict }
                </p>
                <p id="predict-why" class="predict-why">{ &moment.why }</p>
                <div class="predict-buttons">
                    // Focused when it appears: a screen reader reads the
                    // verdict and why with it.
                    <button type="button" id="predict-continue" class="primary"
                        aria-describedby="predict-verdict predict-why"
                        onclick={props.oncontinue.reform(|_| ())}>
                        { "Continue" }<span aria-hidden="true">{ " ▶" }</span>
                    </button>
                    <span class="hint">{ "The selected row is the answer, in the trace." }</span>
                </div>
            </section>
        };
    }

    if !props.replaying {
        return html! {};
    }
    if props.count == 0 {
        return html! {
            <p id="predict-none" class="hint predict-note">
                { "No moment to predict in this trace. Replay asks before " }
                { for props.missing.iter().enumerate().map(|(i, kind)| html! {
                    <>{ if i == 0 { "" } else { "; before " } }{ kind.needs() }</>
                }) }
                { "." }
            </p>
        };
    }
    let questions = if props.count == 1 {
        "1 question".to_string()
    } else {
        format!("{} questions", props.count)
    };
    html! {
        <p id="predict-count" class="hint predict-note">
            { format!("Predict, then observe: {questions} in this trace; replay stops before each.") }
        </p>
    }
}
