// The convolution playground: the filter's output is redrawn (by the
// server, the same code as without JavaScript) as the numbers change, and a
// preset fills the nine cells.
(() => {
  const form = document.getElementById("kernel-form");
  const out = document.getElementById("convolved");
  if (!form || !out) return;
  const cells = [...form.querySelectorAll(".kernel-cell")];
  const raw = document.getElementById("kernel-raw");
  let timer;
  const redraw = () => {
    const k = cells.map((c) => c.value.trim() || "0").join(",");
    raw.value = k;
    clearTimeout(timer);
    timer = setTimeout(() => { out.src = `${out.dataset.base}&k=${encodeURIComponent(k)}`; }, 150);
  };
  cells.forEach((c) => c.addEventListener("input", redraw));
  document.querySelectorAll("a.preset").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    a.dataset.kernel.split(",").forEach((v, i) => { cells[i].value = v; });
    redraw();
  }));
  form.addEventListener("submit", (e) => { e.preventDefault(); redraw(); });
  const layer = document.getElementById("layer-select");
  if (layer) layer.addEventListener("change", () => document.getElementById("layer-form").submit());
})();
