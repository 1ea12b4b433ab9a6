// Live charts of the overview: the last hour per minute, fetched again every 3 seconds (uPlot).
(function () {
  "use strict";
  const section = document.querySelector("[data-series]");
  if (!section || typeof uPlot === "undefined") return;
  const charts = {};
  function draw(data) {
    section.querySelectorAll(".chart").forEach(function (element) {
      const metric = element.dataset.metric;
      const series = [data.time, data[metric]];
      if (charts[metric]) { charts[metric].setData(series); return; }
      charts[metric] = new uPlot({
        width: Math.max(element.clientWidth, 300), height: 170,
        series: [{}, { label: metric, stroke: "#0b5cad", fill: "rgba(11,92,173,0.12)" }],
        legend: { show: false },
      }, series, element);
    });
  }
  function refresh() {
    fetch(section.dataset.series, { credentials: "same-origin" })
      .then(function (response) { if (response.ok) return response.json(); throw new Error(response.status); })
      .then(draw)
      .catch(function () { /* the next refresh tries again */ });
  }
  refresh();
  setInterval(refresh, 3000);
})();
