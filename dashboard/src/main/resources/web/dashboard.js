// The live dashboard: polls /api/counts (the server's fixed read-only queries) and draws it with uPlot.
// window.dashboard exposes what is drawn (the last answer and the charts) for people and the browser test.
"use strict";
(function () {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"];
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  for (const name of ["windows", "products", "refresh"]) {
    if (params.has(name)) $(name).value = params.get(name);
  }
  const state = { answer: null, error: null, updates: 0, countsChart: null, deadChart: null };
  window.dashboard = state;

  const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const span = (ms) => ms < 120000 ? (ms / 1000).toFixed(1) + " s" : (ms / 60000).toFixed(1) + " min";

  // A chart is rebuilt when its series change (uPlot fixes them at construction), else given the new data.
  function draw(key, target, labels, data, yLabel) {
    const names = JSON.stringify(labels);
    const width = Math.max(400, target.clientWidth - 10);
    if (state[key] && state[key].names === names) {
      state[key].chart.setData(data);
      return;
    }
    if (state[key]) state[key].chart.destroy();
    const series = [{ label: "window start" }].concat(labels.map((label, i) => ({
      label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 6 },
    })));
    const chart = new uPlot({
      width, height: 260, series, scales: { x: { time: true } },
      axes: [{ values: (u, splits) => splits.map((s) => time(s * 1000)) }, { label: yLabel, size: 60 }],
    }, data, target);
    state[key] = { chart, names };
  }

  function render(answer) {
    const windows = answer.windows;
    const xs = windows.map((w) => w.start / 1000);
    $("table-name").textContent = answer.table;
    $("window-count").textContent = $("windows").value;
    draw("countsChart", $("counts-chart"), answer.series.map((s) => "product " + s.product),
         [xs].concat(answer.series.map((s) => s.counts)), "clicks");
    const dead = answer.deadLetters;
    draw("deadChart", $("dead-chart"), dead.reasons.map((r) => r.reason),
         [xs].concat(dead.reasons.map((r) => r.counts)), "dead letters");

    const body = $("newest").querySelector("tbody");
    body.replaceChildren();
    for (const row of answer.newest) {
      const tr = document.createElement("tr");
      tr.dataset.product = row.product;
      tr.dataset.count = row.count;
      tr.dataset.pane = row.pane;
      const cells = [row.product, row.count.toLocaleString("en-US"),
                     row.pane.toLowerCase().replace("_", "-") + (row.paneIndex ? " #" + row.paneIndex : ""),
                     time(row.changedAt) + " (" + span(answer.queriedAt - row.changedAt) + " ago)"];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 2) td.className = "pane-" + row.pane;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    const newest = windows[windows.length - 1];
    if (newest) {
      $("newest-window").textContent = "[" + time(newest.start) + ", " + time(newest.end) + ")";
      $("newest-window").dataset.start = newest.start;
      const lag = answer.queriedAt - newest.end;
      $("lag").textContent = span(Math.max(0, lag));
      $("lag").className = lag > 3 * (newest.end - newest.start) ? "behind" : "";
      $("newest-clicks").textContent = newest.clicks.toLocaleString("en-US");
      if (answer.settledTo > 0) {
        const open = newest.end - answer.settledTo;
        $("settled").textContent = time(answer.settledTo) + " (" + (open > 0 ? span(open) + " before the newest window's end"
          : "the newest window is final") + ")";
        $("settled").className = answer.queriedAt - answer.settledTo > 60 * 60 * 1000 ? "behind" : "";
      } else {
        $("settled").textContent = "no settled mark (a continuous job, or no settling run yet)";
        $("settled").className = "";
      }
      const seconds = (newest.end - newest.start) / 1000;
      const rates = dead.reasons.map((r) => r.reason + " " + (r.counts[r.counts.length - 1] / seconds).toFixed(2) + "/s");
      $("dead-status").textContent = (rates.length ? rates.join(", ") : "none") + " (" + dead.status + ")";
    } else {
      $("newest-window").textContent = "(no windows counted yet)";
      $("dead-status").textContent = dead.status;
    }
  }

  async function refresh() {
    const query = "windows=" + encodeURIComponent($("windows").value) + "&products=" + encodeURIComponent($("products").value);
    try {
      const response = await fetch("api/counts?" + query, { cache: "no-store" });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      state.answer = answer;
      state.error = null;
      render(answer);
      state.updates++;
      $("status").className = "status";
      $("status").textContent = "updated " + time(answer.queriedAt) + " · " + answer.windows.length + " windows";
    } catch (e) {
      state.error = String(e.message || e);
      $("status").className = "status error";
      $("status").textContent = "cannot refresh: " + state.error;
    }
    setTimeout(refresh, Math.max(1, Number($("refresh").value) || 3) * 1000);
  }

  $("settings").addEventListener("change", () => {
    const p = new URLSearchParams({ windows: $("windows").value, products: $("products").value, refresh: $("refresh").value });
    history.replaceState(null, "", "?" + p);
  });
  $("settings").addEventListener("submit", (e) => e.preventDefault());
  refresh();
})();
