// The drawing page: strokes on a canvas (Pointer Events), live top-5 predictions from
// POST /predict, the 28x28 image the model received. Talks to this server only.
"use strict";

(() => {
  const SIZE = 280;            // the canvas's drawing units (its CSS size may differ)
  const WIDTH = SIZE / 13;     // stroke width, close to K49's brush relative to a character
  const DEBOUNCE_MS = 150;     // while drawing, predict at most this often
  const TOP_K = 5;

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const undoButton = document.getElementById("undo");
  const clearButton = document.getElementById("clear");
  const fileInput = document.getElementById("file");
  const status = document.getElementById("status");
  const list = document.getElementById("predictions");
  const input = document.getElementById("input");
  const inputCaption = document.getElementById("input-caption");
  const dark = window.matchMedia("(prefers-color-scheme: dark)");

  const strokes = [];          // each a list of [x, y] in drawing units
  let current = null;          // the stroke being drawn, with its pointer id
  let timer = null;            // the debounce timer
  let inFlight = false;        // a prediction request is pending
  let queued = null;           // what to send next: a function making the image's blob
  let generation = 0;          // bumps on clear, so stale answers are dropped

  // --- drawing ----------------------------------------------------------------------------

  function setupCanvas() {
    const ratio = window.devicePixelRatio || 1;
    pad.width = pad.height = Math.round(SIZE * ratio);
    render();
  }

  function paint(context, scale, ink, paper) {
    context.setTransform(scale, 0, 0, scale, 0, 0);
    context.fillStyle = paper;
    context.fillRect(0, 0, SIZE, SIZE);
    context.strokeStyle = ink;
    context.fillStyle = ink;
    context.lineWidth = WIDTH;
    context.lineCap = "round";
    context.lineJoin = "round";
    for (const stroke of strokes) {
      if (stroke.length === 1) {  // a dot
        context.beginPath();
        context.arc(stroke[0][0], stroke[0][1], WIDTH / 2, 0, 2 * Math.PI);
        context.fill();
        continue;
      }
      context.beginPath();
      context.moveTo(stroke[0][0], stroke[0][1]);
      for (let i = 1; i < stroke.length; i++) context.lineTo(stroke[i][0], stroke[i][1]);
      context.stroke();
    }
  }

  function render() {
    const style = getComputedStyle(document.documentElement);
    const paper = style.getPropertyValue("--paper").trim() || "#fff";
    const ink = dark.matches ? "#f4f4f5" : "#111111";
    paint(ctx, pad.width / SIZE, ink, paper);
    undoButton.disabled = clearButton.disabled = strokes.length === 0;
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * SIZE / box.width,
            (event.clientY - box.top) * SIZE / box.height];
  }

  pad.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || current) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = {id: event.pointerId, points: [point(event)]};
    strokes.push(current.points);
    render();
    schedule();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.id) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of (events.length ? events : [event])) current.points.push(point(e));
    render();
    schedule();
  });

  function endStroke(event) {
    if (!current || event.pointerId !== current.id) return;
    current = null;
    predictNow();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  function undo() {
    if (!strokes.length) return;
    strokes.pop();
    changed();
  }

  function clear() {
    strokes.length = 0;
    changed();
  }

  function changed() {
    current = null;
    render();
    if (strokes.length) predictNow();
    else reset("Draw a character to see what the model reads.");
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    } else if (event.key === "Escape") {
      clear();
    }
  });
  dark.addEventListener("change", render);

  // --- predictions ------------------------------------------------------------------------

  function schedule() {
    if (timer === null) timer = setTimeout(() => { timer = null; send(drawingBlob); },
                                           DEBOUNCE_MS);
  }

  function predictNow() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    send(drawingBlob);
  }

  // The drawing as the model should see it: dark ink on white paper, whatever the theme.
  function drawingBlob() {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIZE;
    paint(canvas.getContext("2d"), 1, "#000000", "#ffffff");
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  // One request at a time; what changed meanwhile is sent next (only the latest).
  function send(source) {
    queued = source;
    if (!inFlight) pump();
  }

  async function pump() {
    inFlight = true;
    while (queued) {
      const source = queued;
      queued = null;
      if (source === drawingBlob && !strokes.length) continue;
      const asked = generation;
      try {
        const blob = await source();
        const form = new FormData();
        form.append("file", blob, blob.name || "drawing.png");
        const response = await fetch(`/predict?top_k=${TOP_K}`, {method: "POST", body: form});
        const answer = await response.json();
        if (asked !== generation) continue;
        if (!response.ok) showError(answer.error || `error ${response.status}`);
        else show(answer);
      } catch (error) {
        if (asked === generation) showError(`cannot reach the server: ${error.message}`);
      }
    }
    inFlight = false;
  }

  function reset(message) {
    generation += 1;
    queued = null;
    list.replaceChildren();
    input.hidden = true;
    input.removeAttribute("src");
    inputCaption.textContent = "The 28×28 image the model receives appears here.";
    setStatus(message, false);
  }

  function setStatus(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  function showError(message) {
    list.replaceChildren();
    setStatus(message, true);
  }

  function show(answer) {
    const items = answer.top.map((p) => {
      const li = document.createElement("li");
      const percent = (100 * p.probability).toFixed(1);
      li.setAttribute("aria-label", `${p.char} (${p.codepoint || "class " + p.class}), ${percent}%`);
      const char = document.createElement("span");
      char.className = "char";
      char.lang = "ja";
      char.textContent = p.char;
      const meta = document.createElement("span");
      meta.className = "meta";
      const code = document.createElement("span");
      code.textContent = p.codepoint ? `${p.codepoint} · class ${p.class}` : `class ${p.class}`;
      const prob = document.createElement("span");
      prob.className = "prob";
      prob.textContent = `${percent}%`;
      meta.append(code, prob);
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(0, Math.min(100, 100 * p.probability))}%`;
      bar.append(fill);
      li.append(char, meta, bar);
      return li;
    });
    list.replaceChildren(...items);
    const best = answer.top[0];
    const bestChar = document.createElement("span");
    bestChar.className = "inline-char";
    bestChar.lang = "ja";
    bestChar.textContent = best.char;
    status.classList.remove("error");
    status.replaceChildren("Most likely ", bestChar,
                           ` (${(100 * best.probability).toFixed(1)}%).`);
    input.src = answer.input;
    input.alt = "The 28 by 28 pixel image the model received: white ink on black";
    input.hidden = false;
    inputCaption.textContent = "What the model received: 28×28 pixels, white ink on black.";
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    strokes.length = 0;
    render();
    reset("Reading the image…");
    send(() => Promise.resolve(file));
    fileInput.value = "";
  });

  // --- the model ----------------------------------------------------------------------------

  async function loadModel() {
    const model = document.getElementById("model");
    try {
      const response = await fetch("/health");
      const health = await response.json();
      const run = health.label && health.label !== health.model ? ` (run ${health.label})` : "";
      const data = health.synthetic ? "synthetic, not K49" : health.dataset;
      model.textContent = `Model: ${health.model}${run} · trained on ${data} · ` +
                          `${health.classes} classes · ${health.device}`;
      document.getElementById("synthetic-banner").hidden = !health.synthetic;
    } catch (error) {
      model.textContent = `Cannot reach the server: ${error.message}`;
    }
  }

  setupCanvas();
  loadModel();
})();
