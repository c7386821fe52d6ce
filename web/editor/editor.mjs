// The code view's editor: CodeMirror 6 with Python, for a student's own
// server.py and client.py.
//
// `scripts/setup.sh build` bundles this file (and the CodeMirror packages
// it imports, pinned in web/editor/package-lock.json) with esbuild into
// web/editor/build/editor.js, which trunk copies to dist/editor/. The page
// imports it only when the student opens the code view, so the page
// without the code view does not carry it.
//
// What the page asks of an editor, and nothing more:
//
//   const editor = createEditor(parent, { doc, label, onChange });
//   editor.text()              // the program as typed
//   editor.setText(text)       // replace it (the handout's code again)
//   editor.markLine(n)         // highlight line n (the trace's selected
//                              // event) and scroll to it; 0 clears
//   editor.setNote(n, text)    // a sentence under line n (an error and what
//                              // it means); n = 0 clears
//   editor.focus()
//   editor.destroy()
//
// Deliberately absent: auto-closing brackets and completion pop-ups. A
// student types every character of the program, as in a terminal editor,
// and Enter never accepts a suggestion by surprise.

import { EditorState, StateEffect, StateField, RangeSetBuilder } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  WidgetType,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { classHighlighter } from "@lezer/highlight";
import { python } from "@codemirror/lang-python";

// The line the selected trace event points at (0: none).
const setMarkedLine = StateEffect.define();
// The error note: { line, text } (line 0: none).
const setNote = StateEffect.define();

const markedLine = StateField.define({
  create: () => 0,
  update(line, tr) {
    for (const effect of tr.effects) {
      if (effect.is(setMarkedLine)) return effect.value;
    }
    // Lines added above the marked one move it down: the mark stays on
    // the statement it pointed at.
    if (tr.docChanged && line) {
      if (line > tr.startState.doc.lines) return 0;
      const pos = tr.changes.mapPos(tr.startState.doc.line(line).from, 1);
      return tr.state.doc.lineAt(pos).number;
    }
    return line;
  },
  provide: (field) =>
    EditorView.decorations.compute([field], (state) => {
      const line = state.field(field);
      if (!line || line > state.doc.lines) return Decoration.none;
      const builder = new RangeSetBuilder();
      builder.add(
        state.doc.line(line).from,
        state.doc.line(line).from,
        Decoration.line({ class: "cm-traced-line", attributes: { "data-traced": "true" } }),
      );
      return builder.finish();
    }),
});

class NoteWidget extends WidgetType {
  constructor(text) {
    super();
    this.text = text;
  }
  eq(other) {
    return other.text === this.text;
  }
  toDOM() {
    const note = document.createElement("div");
    note.className = "cm-error-note";
    note.setAttribute("role", "note");
    note.textContent = this.text;
    return note;
  }
  ignoreEvent() {
    return false;
  }
}

const errorNote = StateField.define({
  create: () => ({ line: 0, text: "" }),
  update(note, tr) {
    for (const effect of tr.effects) {
      if (effect.is(setNote)) return effect.value;
    }
    // An edit to the program makes the note stale: the student is fixing it.
    if (tr.docChanged && note.line) return { line: 0, text: "" };
    return note;
  },
  provide: (field) =>
    EditorView.decorations.compute([field], (state) => {
      const { line, text } = state.field(field);
      if (!line || line > state.doc.lines) return Decoration.none;
      const at = state.doc.line(line);
      const builder = new RangeSetBuilder();
      builder.add(at.from, at.from, Decoration.line({ class: "cm-error-line" }));
      builder.add(at.to, at.to, Decoration.widget({ widget: new NoteWidget(text), block: true, side: 1 }));
      return builder.finish();
    }),
});

// Colours come from the page's stylesheet (`.tok-keyword`, `.cm-…`), so the
// editor follows the page's light, dark and projector modes.
const pageTheme = EditorView.theme({
  "&": { height: "100%" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.45" },
});

export function createEditor(parent, { doc = "", label = "program", onChange = () => {} } = {}) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        indentUnit.of("    "),
        EditorState.tabSize.of(4),
        syntaxHighlighting(classHighlighter),
        bracketMatching(),
        highlightActiveLine(),
        // Long lines wrap: the two files sit side by side.
        EditorView.lineWrapping,
        // Tab indents, as in any code editor; Escape then Tab leaves the
        // editor (CodeMirror's own rule), so keyboard users are not trapped.
        keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap]),
        python(),
        markedLine,
        errorNote,
        pageTheme,
        // tabindex: the editable area is the scrolling region's keyboard
        // access (it is focusable already; this says so to every checker).
        EditorView.contentAttributes.of({ "aria-label": label, spellcheck: "false", tabindex: "0" }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });

  // Projector mode and the theme change the type's size on the page's
  // root: measure the lines again, or the gutter's numbers keep the old
  // heights (CodeMirror's own resize check skips a change that comes
  // within moments of an edit).
  const restyled = new MutationObserver(() => view.requestMeasure());
  restyled.observe(document.documentElement, { attributes: true, attributeFilter: ["data-projector", "data-theme"] });

  const lineStart = (n) => view.state.doc.line(Math.min(n, view.state.doc.lines)).from;
  // Scrolls the editor itself, never the page around it: selecting an
  // event in the trace must not move the trace away.
  const reveal = (n) => {
    const block = view.lineBlockAt(lineStart(n));
    const scroller = view.scrollDOM;
    const top = block.top - scroller.clientHeight / 2 + block.height / 2;
    scroller.scrollTop = Math.max(0, top);
  };

  return {
    text: () => view.state.doc.toString(),
    setText(text) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    markLine(n) {
      const line = n > 0 && n <= view.state.doc.lines ? n : 0;
      view.dispatch({ effects: setMarkedLine.of(line) });
      if (line) reveal(line);
    },
    setNote(n, text) {
      const line = n > 0 && n <= view.state.doc.lines ? n : 0;
      view.dispatch({ effects: setNote.of(line ? { line, text } : { line: 0, text: "" }) });
      if (line) reveal(line);
    },
    focus: () => view.focus(),
    destroy() {
      restyled.disconnect();
      view.destroy();
    },
  };
}
