// The Deploy page's Board panel, live: follows the connected board's event
// stream (GET /api/projects/{id}/board/events) into a moving chart of its
// predictions and its raw lines, and sends test samples, images or webcam
// frames to it through the API without reloading. Without JavaScript the
// panel's forms do the same with a page load each.
"use strict";

// `csrfHeaders` comes from app.js, which every page loads first (a second
// top-level declaration would stop this whole script with a SyntaxError).

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("board");
  if (!panel || panel.dataset.connected !== "true") return;
  const api = `/api/projects/${panel.dataset.project}/board`;
  const chart = new Chart(document.getElementById("board-chart"), document.getElementById("board-legend"));
  follow(api, chart);
  setUpSend(api);
});

const KEPT_LINES = 300;
const KEPT_POINTS = 60;
const COLOURS = ["#1f6feb", "#c93c37", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7d8c", "#57606a"];

// Scores per label over the last predictions, newest on the right.
class Chart {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.points = []; // [{scores: {label: score}, unasked}]
    this.labels = [];
  }

  add(p) {
    const scores = {};
    for (const s of p.scores) {
      scores[s.label] = s.score;
      if (!this.labels.includes(s.label)) this.labels.push(s.label);
    }
    this.points.push({ scores, unasked: p.unasked });
    if (this.points.length > KEPT_POINTS) this.points.shift();
    this.draw();
    const parts = p.scores.map((s) => `${s.label} ${s.score.toFixed(5)}`).join(", ");
    this.legend.textContent = `Latest${p.unasked ? " (the board's own photo)" : ""}: ${parts}`;
  }

  draw() {
    const c = this.canvas, g = c.getContext("2d");
    const w = c.width, h = c.height, pad = 8;
    g.clearRect(0, 0, w, h);
    g.strokeStyle = "#e3e6ea";
    g.lineWidth = 1;
    for (const y of [0, 0.5, 1]) {
      g.beginPath();
      g.moveTo(0, pad + (1 - y) * (h - 2 * pad));
      g.lineTo(w, pad + (1 - y) * (h - 2 * pad));
      g.stroke();
    }
    const step = (w - 2 * pad) / Math.max(1, KEPT_POINTS - 1);
    const x0 = w - pad - (this.points.length - 1) * step;
    this.labels.forEach((label, i) => {
      g.strokeStyle = COLOURS[i % COLOURS.length];
      g.lineWidth = 2;
      g.beginPath();
      this.points.forEach((p, j) => {
        const y = pad + (1 - (p.scores[label] ?? 0)) * (h - 2 * pad);
        if (j === 0) g.moveTo(x0, y); else g.lineTo(x0 + j * step, y);
      });
      g.stroke();
      g.fillStyle = g.strokeStyle;
      g.font = "12px sans-serif";
      g.fillText(label, pad + 4, 14 + 14 * i);
    });
  }
}

function follow(api, chart) {
  const lines = document.getElementById("board-lines");
  const state = document.getElementById("board-state");
  const append = (text) => {
    lines.textContent += text + "\n";
    const all = lines.textContent.split("\n");
    if (all.length > KEPT_LINES) lines.textContent = all.slice(-KEPT_LINES).join("\n");
    lines.scrollTop = lines.scrollHeight;
  };
  const source = new EventSource(`${api}/events`);
  source.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    if (!s.connected) {
      state.textContent = `Disconnected: ${s.reason || "the connection ended"}. Reload the page to connect again.`;
      source.close();
      return;
    }
    lines.textContent = s.lines.map((l) => l.line).join("\n") + (s.lines.length ? "\n" : "");
    lines.scrollTop = lines.scrollHeight;
    if (s.latest) chart.add(s.latest);
    state.textContent = "Live.";
  });
  source.addEventListener("line", (e) => append(JSON.parse(e.data).line));
  source.addEventListener("predictions", (e) => chart.add(JSON.parse(e.data)));
  source.onerror = () => { state.textContent = "Reconnecting…"; };
}

function setUpSend(api) {
  const form = document.getElementById("board-classify");
  if (!form) return;
  const model = form.querySelector("[name=model]").value;
  const show = (html) => {
    let out = document.getElementById("board-result");
    if (!out) {
      out = document.createElement("div");
      out.id = "board-result";
      out.className = "board-run";
      form.before(out);
    }
    out.innerHTML = html;
  };
  const send = async (query, body) => {
    show("<p class=\"muted\">Sent; waiting for the board…</p>");
    const r = await fetch(`${api}/classify?modelId=${encodeURIComponent(model)}${query}`, {
      method: "POST", headers: { Accept: "application/json", ...csrfHeaders() }, body, credentials: "same-origin",
    });
    const run = await r.json();
    show(r.ok ? runHtml(run) : `<p class="flash error">${escapeHtml(run.error)}</p>`);
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = form.querySelector("[name=image]").files[0];
    const sample = form.querySelector("[name=sample]").value;
    if (file) send("", file);
    else send(`&sampleId=${encodeURIComponent(sample)}`, null);
  });

  // A webcam frame, where the browser lets the page open a camera.
  const button = document.getElementById("board-webcam");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const camera = document.getElementById("board-camera");
    const video = document.getElementById("board-video");
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
    } catch (err) {
      show(`<p class="flash error">No camera: ${escapeHtml(err.message)}</p>`);
      return;
    }
    camera.hidden = false;
    document.getElementById("board-snap").onclick = () => {
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob((blob) => send("", blob), "image/png");
    };
  });
}

function runHtml(run) {
  const rows = run.scores.map((s) => {
    const host = run.hostScores.find((h) => h.label === s.label);
    return `<tr><td>${escapeHtml(s.label)}</td><td>${s.score.toFixed(5)}</td><td>${host ? host.score.toFixed(5) : ""}</td></tr>`;
  }).join("");
  const verdict = run.matchesHost
    ? "<span class=\"status succeeded\">board = host, byte for byte</span>"
    : "<span class=\"status failed\">board and host differ</span>";
  const name = run.inputName ? escapeHtml(run.inputName) + (run.trueLabel ? ` (${escapeHtml(run.trueLabel)})` : "") : "an image";
  return `<p><strong>${name}</strong> on ${escapeHtml(run.port)}, model v${run.modelVersion}: ${verdict}</p>
    <table class="compare"><tr><th>label</th><th>board</th><th>host</th></tr>${rows}</table>
    <p>Predicted: board <strong>${escapeHtml(run.predicted || "")}</strong>, host <strong>${escapeHtml(run.hostPredicted || "")}</strong>.
    Raw int8: board <code>${run.raw.join(" ")}</code>, host <code>${run.hostRaw.join(" ")}</code>.</p>
    <p class="muted">DSP ${run.dspMs} ms, classification ${run.classificationMs} ms on the board; ${Math.round(run.roundTripMs)} ms round trip</p>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c]));
}
