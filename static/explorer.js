// The data explorer's map: draws every sample on a canvas, coloured by its
// label (filled: training, hollow: testing; ringed: nearer another label),
// shows the nearest sample's thumbnail under the pointer and opens it on a
// click. Points are bucketed on a grid so hovering stays quick with tens of
// thousands of samples.
(() => {
  const data = document.getElementById("map-data");
  const box = document.getElementById("map");
  if (!data || !box) return;
  const map = JSON.parse(data.textContent);
  const project = box.dataset.project;
  const canvas = document.getElementById("map-canvas");
  const tip = document.getElementById("map-tip");
  const ctx = canvas.getContext("2d");
  const PAD = 12, RADIUS = 3, CELL = 16, REACH = 8;
  let placed = [], grid = new Map();

  const bounds = () => {
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of map.points) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    return { x0, x1: x1 > x0 ? x1 : x0 + 1, y0, y1: y1 > y0 ? y1 : y0 + 1 };
  };
  const b = bounds();
  // The legend's keys take the labels' colours.
  document.querySelectorAll("#map-legend .key").forEach((key, i) => {
    key.style.background = map.colours[i];
  });

  function draw() {
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    const width = box.clientWidth, height = Math.min(520, Math.max(280, width * 0.6));
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    canvas.width = width * ratio; canvas.height = height * ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    placed = []; grid = new Map();
    const sx = (width - 2 * PAD) / (b.x1 - b.x0), sy = (height - 2 * PAD) / (b.y1 - b.y0);
    map.points.forEach((p, i) => {
      const x = PAD + (p[0] - b.x0) * sx, y = height - PAD - (p[1] - b.y0) * sy;
      placed.push([x, y]);
      const key = `${Math.floor(x / CELL)},${Math.floor(y / CELL)}`;
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(i);
    });
    // Flagged samples last, so their rings are not hidden.
    const order = map.points.map((_, i) => i).sort((a, c) => (map.points[a][4] >= 0) - (map.points[c][4] >= 0));
    for (const i of order) {
      const [, , label, testing, nearer] = map.points[i];
      const [x, y] = placed[i];
      const colour = label >= 0 ? map.colours[label] : "#888";
      ctx.beginPath();
      ctx.arc(x, y, RADIUS, 0, 2 * Math.PI);
      if (testing) { ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke(); }
      else { ctx.fillStyle = colour; ctx.fill(); }
      if (nearer >= 0) {
        ctx.beginPath(); ctx.arc(x, y, RADIUS + 2.5, 0, 2 * Math.PI);
        ctx.strokeStyle = "#111"; ctx.lineWidth = 1.2; ctx.stroke();
      }
    }
    // For benches/explorer.rs: how long a drawing takes.
    canvas.dataset.drawMs = (performance.now() - started).toFixed(1);
  }

  function nearest(mx, my) {
    let best = -1, bestD = REACH * REACH;
    const cx = Math.floor(mx / CELL), cy = Math.floor(my / CELL);
    for (let gx = cx - 1; gx <= cx + 1; gx++) for (let gy = cy - 1; gy <= cy + 1; gy++) {
      for (const i of grid.get(`${gx},${gy}`) || []) {
        const d = (placed[i][0] - mx) ** 2 + (placed[i][1] - my) ** 2;
        if (d <= bestD) { best = i; bestD = d; }
      }
    }
    return best;
  }

  const at = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const name = (i) => (i >= 0 ? map.labels[i] : "no label");
  canvas.addEventListener("mousemove", (e) => {
    const [mx, my] = at(e);
    const i = nearest(mx, my);
    if (i < 0) { tip.hidden = true; canvas.style.cursor = ""; return; }
    const [, , label, testing, nearer, id] = map.points[i];
    tip.replaceChildren();
    const img = document.createElement("img");
    img.src = `/api/projects/${project}/samples/${id}/thumbnail`; img.alt = "";
    const text = document.createElement("span");
    text.textContent = `${name(label)} (${testing ? "testing" : "training"})` + (nearer >= 0 ? `, looks like ${name(nearer)}` : "");
    tip.append(img, text);
    tip.style.left = Math.min(placed[i][0] + 12, box.clientWidth - 140) + "px";
    tip.style.top = placed[i][1] + 12 + "px";
    tip.hidden = false; tip.dataset.sample = id;
    canvas.style.cursor = "pointer";
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("click", (e) => {
    const i = nearest(...at(e));
    if (i >= 0) window.location.href = `/projects/${project}/samples/${map.points[i][5]}`;
  });
  window.addEventListener("resize", draw);
  draw();
})();
