// The drawing pad: strokes in white on black (as MNIST), sent as a PNG to /api/predict while drawing.
"use strict";
(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const status = document.getElementById("status");
  const answer = document.getElementById("answer");
  const agreement = document.getElementById("agreement");
  const heads = document.getElementById("heads");
  let tasks = [];            // [{name, classes}] from /api/model
  let drawing = false, inked = false, last = null;
  let inFlight = false, pending = false, generation = 0;

  function blank() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    inked = false;
    generation++;
    answer.textContent = "?";
    agreement.hidden = true;
    status.textContent = "Draw a digit.";
    for (const fill of heads.querySelectorAll(".fill")) fill.style.width = "0";
    for (const p of heads.querySelectorAll(".p")) p.textContent = "";
    for (const row of heads.querySelectorAll(".row")) row.classList.remove("top");
    for (const label of heads.querySelectorAll(".label")) label.textContent = "";
  }

  function layout(model) {
    tasks = model.tasks;
    heads.textContent = "";
    for (const task of tasks) {
      const head = document.createElement("div");
      head.className = "head";
      head.dataset.task = task.name;
      const title = document.createElement("h2");
      title.append(task.name + ": ");
      const label = document.createElement("span");
      label.className = "label";
      title.append(label);
      head.append(title);
      task.classes.forEach(function (name, k) {
        const row = document.createElement("div");
        row.className = "row";
        row.dataset.k = k;
        row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="p"></span>';
        row.querySelector(".name").textContent = name;
        head.append(row);
      });
      heads.append(head);
    }
    document.getElementById("model").textContent =
      "Model " + model.model + " — heads: " + tasks.map(function (t) { return t.name; }).join(", ") + ". Runs entirely on this server; nothing is sent elsewhere.";
  }

  function show(result) {
    const names = [];
    for (const task of tasks) {
      const r = result.tasks[task.name];
      const head = heads.querySelector('[data-task="' + task.name + '"]');
      head.querySelector(".label").textContent = r.name;
      names.push(r.name);
      head.querySelectorAll(".row").forEach(function (row, k) {
        const p = r.probabilities[k];
        row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
        row.querySelector(".p").textContent = (100 * p).toFixed(1) + "%";
        row.classList.toggle("top", k === r.label);
      });
    }
    answer.textContent = names.join(" · ");
    agreement.hidden = tasks.length < 2;
    agreement.className = "agreement " + (result.heads_agree ? "agree" : "disagree");
    agreement.textContent = result.heads_agree
      ? "The heads agree."
      : "The heads disagree: the " + tasks[0].name + " head's answer implies a different " +
        tasks.slice(1).map(function (t) { return t.name; }).join("/") + " than the other heads say.";
  }

  function predict() {
    if (!inked) return;
    if (inFlight) { pending = true; return; }
    inFlight = true;
    document.body.classList.add("busy");
    const asked = generation;
    pad.toBlob(function (blob) {
      fetch("/api/predict", { method: "POST", headers: { "Content-Type": "image/png" }, body: blob })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.detail || body.title || response.statusText);
            return body;
          });
        })
        .then(function (result) {
          if (asked !== generation) return;
          show(result);
          status.textContent = "";
        })
        .catch(function (e) { if (asked === generation) status.textContent = e.message; })
        .finally(function () {
          inFlight = false;
          if (pending) { pending = false; predict(); }
          document.body.classList.toggle("busy", inFlight);
        });
    }, "image/png");
  }

  function point(e) {
    const box = pad.getBoundingClientRect();
    return { x: (e.clientX - box.left) * pad.width / box.width, y: (e.clientY - box.top) * pad.height / box.height };
  }

  function stroke(to) {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (last) { ctx.moveTo(last.x, last.y); ctx.lineTo(to.x, to.y); ctx.stroke(); }
    else { ctx.arc(to.x, to.y, ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill(); }
    last = to;
    inked = true;
  }

  pad.addEventListener("pointerdown", function (e) {
    drawing = true;
    last = null;
    pad.setPointerCapture(e.pointerId);
    stroke(point(e));
    e.preventDefault();
  });
  pad.addEventListener("pointermove", function (e) {
    if (!drawing) return;
    stroke(point(e));
    predict();
    e.preventDefault();
  });
  function end() {
    if (!drawing) return;
    drawing = false;
    last = null;
    predict();
  }
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  document.getElementById("clear").addEventListener("click", blank);

  blank();
  fetch("/api/model").then(function (r) { return r.json(); }).then(layout)
    .catch(function () { status.textContent = "Could not reach the server."; });
})();
