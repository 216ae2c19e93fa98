// The drawing pad: strokes in white on black (as MNIST), sent as a PNG to /api/explain while drawing. The answer
// shows the calibrated confidence, a "not sure" or "not a digit" state, the 28 x 28 input the network saw and, with
// "Show why", each head's saliency over it.
"use strict";
(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const status = document.getElementById("status");
  const answer = document.getElementById("answer");
  const agreement = document.getElementById("agreement");
  const heads = document.getElementById("heads");
  const verdict = document.getElementById("verdict");
  const seen = document.getElementById("seen");
  const why = document.getElementById("why");
  const legend = document.getElementById("legend");
  // Below this calibrated probability of the digit head's answer the page says "not sure".
  const SURE = 0.9;
  let tasks = [];            // [{name, classes}] from /api/model
  let calibrated = false;
  let drawing = false, inked = false, last = null;
  let inFlight = false, pending = false, generation = 0;

  function blank() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    inked = false;
    generation++;
    answer.textContent = "?";
    answer.classList.remove("reject");
    agreement.hidden = true;
    verdict.hidden = true;
    paint(seen, null, null, 0);
    for (const map of heads.querySelectorAll("canvas.map")) paint(map, null, null, 0);
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
      const map = document.createElement("canvas");
      map.className = "map";
      map.width = map.height = 28;
      map.hidden = !why.checked;
      map.setAttribute("aria-label", "Saliency of the " + task.name + " head's answer");
      const bars = document.createElement("div");
      bars.className = "bars";
      const body = document.createElement("div");
      body.className = "body";
      body.append(bars, map);
      head.append(title, body);
      task.classes.forEach(function (name, k) {
        const row = document.createElement("div");
        row.className = "row";
        row.dataset.k = k;
        row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="p"></span>';
        row.querySelector(".name").textContent = name;
        bars.append(row);
      });
      heads.append(head);
    }
    calibrated = model.calibrated;
    document.getElementById("model").textContent =
      "Model " + model.model + " — heads: " + tasks.map(function (t) { return t.name; }).join(", ") + ". " +
      (model.calibrated ? "Probabilities are calibrated (temperature scaling on held-out data). " : "Probabilities are raw softmax (the model has no calibration). ") +
      (model.rejection_threshold === null ? "It cannot say \u201cnot a digit\u201d (no threshold). " : "") +
      "Runs entirely on this server; nothing is sent elsewhere.";
    blank();
  }

  // Paints a 28 x 28 map: the input in gray; with a saliency, the input dimmed and each pixel tinted orange (for the
  // answer) or blue (against it) by sqrt(|value| / peak), as the report's gallery does.
  function paint(canvas, input, saliency, peak) {
    const c = canvas.getContext("2d");
    const image = c.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const x = input ? input[i] : 0;
      let rgb = [255 * x, 255 * x, 255 * x];
      if (saliency) {
        const base = 85 * x;
        const v = saliency[i], a = peak > 0 ? Math.sqrt(Math.min(1, Math.abs(v) / peak)) : 0;
        const tint = v >= 0 ? [255, 140, 0] : [40, 120, 255];
        rgb = tint.map(function (t) { return base + (t - base) * a; });
      }
      image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
    }
    c.putImageData(image, 0, 0);
  }

  function percent(p) { return (100 * p).toFixed(1) + " %"; }

  function show(result) {
    const names = [];
    for (const task of tasks) {
      const r = result.tasks[task.name];
      const head = heads.querySelector('[data-task="' + task.name + '"]');
      head.querySelector(".label").textContent = r.answer_name;
      names.push(r.answer_name);
      head.querySelectorAll(".row").forEach(function (row, k) {
        const p = r.probabilities[k];
        row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
        row.querySelector(".p").textContent = (100 * p).toFixed(1) + "%";
        row.classList.toggle("top", k === r.answer);
      });
      paint(head.querySelector("canvas.map"), result.input, r.saliency, r.saliency_peak);
    }
    paint(seen, result.input, null, 0);
    const first = result.tasks[tasks[0].name];
    const confidence = first.probabilities[first.answer];
    const kind = calibrated ? "calibrated" : "uncalibrated";
    verdict.hidden = false;
    answer.classList.toggle("reject", result.rejected);
    if (result.rejected) {
      verdict.className = "verdict reject";
      verdict.textContent = "Not a digit: this looks unlike every digit the network learned. Its best guess would be " + names.join(" · ") + ".";
      answer.textContent = "not a digit";
      agreement.hidden = true;
      return;
    }
    const sure = confidence >= SURE;
    verdict.className = "verdict " + (sure ? "sure" : "unsure");
    verdict.textContent = (sure ? "Sure: " : "Not sure: only ") + percent(confidence) + " that it is " + first.answer_name + " (" + kind + ").";
    answer.textContent = names.join(" · ") + (sure ? "" : " ?");
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
      fetch("/api/explain", { method: "POST", headers: { "Content-Type": "image/png" }, body: blob })
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
  why.addEventListener("change", function () {
    legend.hidden = !why.checked;
    for (const map of heads.querySelectorAll("canvas.map")) map.hidden = !why.checked;
  });

  blank();
  fetch("/api/model").then(function (r) { return r.json(); }).then(layout)
    .catch(function () { status.textContent = "Could not reach the server."; });
})();
