// The interactive graph page: pan and zoom, details on hover, dependencies on click, and the
// backward pass step by step. Reads the drawing's data from the JSON block #graph-data.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const canvas = document.getElementById("canvas");
  const svg = canvas.querySelector("svg");
  const detailsBox = document.getElementById("details");
  const stepBox = document.getElementById("step");
  const counter = document.getElementById("step-counter");
  const ids = Object.keys(data.nodes);

  // ---------------------------------------------------------------- pan and zoom (the SVG viewBox)
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  const full = svg.viewBox.baseVal;
  const home = { x: full.x, y: full.y, width: full.width, height: full.height };
  let view = Object.assign({}, home);
  function show(v) {
    view = v;
    svg.setAttribute("viewBox", [v.x, v.y, v.width, v.height].join(" "));
  }
  function toGraph(event) { // a mouse position in graph coordinates
    const box = svg.getBoundingClientRect();
    const scale = Math.max(view.width / box.width, view.height / box.height);
    const cx = view.x + view.width / 2 + (event.clientX - box.left - box.width / 2) * scale;
    const cy = view.y + view.height / 2 + (event.clientY - box.top - box.height / 2) * scale;
    return { x: cx, y: cy, scale: scale };
  }
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    const p = toGraph(event);
    const k = Math.exp(event.deltaY * 0.0015); // > 1 zooms out
    show({ x: p.x - (p.x - view.x) * k, y: p.y - (p.y - view.y) * k, width: view.width * k, height: view.height * k });
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", function (event) {
    drag = { x: event.clientX, y: event.clientY, view: view, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    const box = svg.getBoundingClientRect();
    const scale = Math.max(drag.view.width / box.width, drag.view.height / box.height);
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    show(Object.assign({}, drag.view, { x: drag.view.x - dx * scale, y: drag.view.y - dy * scale }));
  });
  window.addEventListener("mouseup", function () {
    canvas.classList.remove("dragging");
    setTimeout(function () { drag = null; }, 0); // the click that ends a drag selects nothing
  });
  document.getElementById("fit").addEventListener("click", function () { show(Object.assign({}, home)); });

  // The view the page opens with: zoomed so that the smallest text (a gradient line, an operand
  // number) is READABLE_PX CSS pixels high, at the top left of the graph (centred across it when it
  // is narrower than the window); the whole graph when it fits at that size.
  const READABLE_PX = 11.5;
  function readableView() {
    const box = svg.getBoundingClientRect();
    if (!box.width || !box.height) return Object.assign({}, home);
    const units = Math.max(view.width / box.width, view.height / box.height); // graph units per pixel now
    let smallest = Infinity; // the smallest text, in pixels now
    svg.querySelectorAll("text").forEach(function (t) {
      const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
      if (size > 0 && size < smallest) smallest = size;
    });
    const zoom = isFinite(smallest) ? READABLE_PX / smallest : 1;
    const width = box.width * units / zoom, height = box.height * units / zoom;
    if (zoom <= 1 || (width >= home.width && height >= home.height)) return Object.assign({}, home);
    const x = width >= home.width ? home.x + (home.width - width) / 2 : home.x;
    return { x: x, y: home.y, width: width, height: height };
  }
  function reveal(el) { // pan, keeping the zoom, so that el is in view
    const box = svg.getBoundingClientRect(), r = el.getBoundingClientRect();
    if (r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom) return;
    const units = Math.max(view.width / box.width, view.height / box.height);
    const dx = (r.left + r.width / 2) - (box.left + box.width / 2), dy = (r.top + r.height / 2) - (box.top + box.height / 2);
    show(Object.assign({}, view, { x: view.x + dx * units, y: view.y + dy * units }));
  }
  document.getElementById("readable").addEventListener("click", function () { show(readableView()); });

  // ---------------------------------------------------------------- nodes, edges and their links
  const element = {};   // node id -> its <g class="node">
  const users = {};     // node id -> ids of the nodes that take it as an input
  ids.forEach(function (id) { users[id] = []; });
  ids.forEach(function (id) {
    element[id] = document.getElementById(id);
    data.nodes[id].inputs.forEach(function (input) { users[input].push(id); });
    const record = data.nodes[id];
    if (element[id] && record.status) element[id].classList.add("status-" + record.status);
  });
  const edges = []; // {el, from, to} in data-flow direction
  svg.querySelectorAll("g.edge").forEach(function (el) {
    const ends = el.querySelector("title").textContent.split("->");
    let from = ends[0], to = ends[1];
    if (data.nodes[to] && data.nodes[to].inputs.indexOf(from) < 0) { const t = from; from = to; to = t; } // backward view
    edges.push({ el: el, from: from, to: to });
  });
  function reach(start, next) { // every node reachable from start through next(id), start excluded
    const seen = new Set([start]);
    const stack = [start];
    while (stack.length) {
      next(stack.pop()).forEach(function (other) {
        if (!seen.has(other)) { seen.add(other); stack.push(other); }
      });
    }
    seen.delete(start);
    return seen;
  }
  function inputsOf(id) { return data.nodes[id] ? data.nodes[id].inputs : []; }
  function usersOf(id) { return users[id] || []; }

  // ---------------------------------------------------------------- hover: details
  function text(tag, content, cls) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  }
  function showDetails(id) {
    const record = data.nodes[id];
    detailsBox.replaceChildren(text("h2", "Details"));
    detailsBox.appendChild(text("div", record.details[0], "detail-title"));
    const list = document.createElement("ul");
    record.details.slice(1).forEach(function (line) { list.appendChild(text("li", line)); });
    detailsBox.appendChild(list);
    detailsBox.dataset.node = id;
  }
  ids.forEach(function (id) {
    const el = element[id];
    if (!el) return;
    el.addEventListener("mouseenter", function () { showDetails(id); });
    el.addEventListener("click", function (event) {
      event.stopPropagation();
      if (!drag || !drag.moved) select(id);
    });
  });

  // ---------------------------------------------------------------- click: what it depends on, and what depends on it
  function clearClasses(names) {
    names.forEach(function (name) {
      svg.querySelectorAll("." + name).forEach(function (el) { el.classList.remove(name); });
    });
  }
  let selected = null;
  function select(id) {
    clearClasses(["selected", "ancestor", "descendant", "dimmed", "upstream", "downstream"]);
    if (id === null || id === selected) { selected = null; delete canvas.dataset.selected; return; }
    selected = id;
    const up = reach(id, inputsOf), down = reach(id, usersOf);
    ids.forEach(function (other) {
      const el = element[other];
      if (!el) return;
      if (other === id) el.classList.add("selected");
      else if (up.has(other)) el.classList.add("ancestor");
      else if (down.has(other)) el.classList.add("descendant");
      else el.classList.add("dimmed");
    });
    // An edge between two nodes above the selection (or the selection itself) is on a path into it,
    // one between two nodes below it on a path out of it: each takes the colour of its nodes.
    const above = new Set([id, ...up]), below = new Set([id, ...down]);
    edges.forEach(function (e) {
      if (above.has(e.from) && above.has(e.to)) e.el.classList.add("upstream");
      else if (below.has(e.from) && below.has(e.to)) e.el.classList.add("downstream");
      else e.el.classList.add("dimmed");
    });
    canvas.dataset.selected = id;
    canvas.dataset.ancestors = String(up.size);
    canvas.dataset.descendants = String(down.size);
  }
  canvas.addEventListener("click", function () { if (!drag || !drag.moved) select(null); });

  // ---------------------------------------------------------------- the backward pass, step by step
  const steps = data.steps;
  let current = -1, timer = null;
  function showStep(k) {
    clearClasses(["step-op", "step-input"]);
    current = Math.max(-1, Math.min(k, steps.length - 1));
    counter.textContent = steps.length ? (current + 1) + " / " + steps.length : (data.steps_note || "no gradients to step through");
    stepBox.replaceChildren(text("h2", "Backward step"));
    if (current < 0) { delete stepBox.dataset.node; return; }
    const step = steps[current];
    if (element[step.node]) { element[step.node].classList.add("step-op"); reveal(element[step.node]); }
    stepBox.appendChild(text("div", "step " + (current + 1) + ": the VJP of " + step.op, "detail-title"));
    const list = document.createElement("ul");
    step.sends.forEach(function (send) {
      if (send.node && element[send.node]) element[send.node].classList.add("step-input");
      const to = send.node ? data.nodes[send.node].title : "(not drawn)";
      list.appendChild(text("li", "to operand " + send.operand + ", " + to + ": " + send.shape + ", " + send.summary, "grad"));
    });
    if (!step.sends.length) list.appendChild(text("li", "no input needs a gradient"));
    stepBox.appendChild(list);
    stepBox.dataset.node = step.node;
    stepBox.dataset.index = String(current);
  }
  function play() {
    if (timer) { clearInterval(timer); timer = null; document.getElementById("play").textContent = "play"; return; }
    if (current >= steps.length - 1) showStep(-1);
    document.getElementById("play").textContent = "pause";
    timer = setInterval(function () {
      if (current >= steps.length - 1) { play(); return; }
      showStep(current + 1);
    }, 700);
  }
  document.getElementById("next").addEventListener("click", function () { showStep(current + 1); });
  document.getElementById("prev").addEventListener("click", function () { showStep(current - 1); });
  document.getElementById("play").addEventListener("click", play);
  document.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight") showStep(current + 1);
    else if (event.key === "ArrowLeft") showStep(current - 1);
    else if (event.key === " ") { event.preventDefault(); play(); }
    else if (event.key === "f") show(Object.assign({}, home));
    else if (event.key === "r") show(readableView());
  });
  show(readableView());
  showStep(-1);
  document.body.dataset.ready = "true"; // for tests and the page-load benchmark
})();
