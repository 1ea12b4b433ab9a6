// The usage explorer's chart: requests and cost per day, from the JSON the page carries (uPlot).
(function () {
  "use strict";
  const data = document.getElementById("usage-data");
  const element = document.getElementById("usage-chart");
  if (!data || !element || typeof uPlot === "undefined") return;
  const usage = JSON.parse(data.textContent);
  const days = usage.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
  const cost = usage.cost_nano.map(function (nano) { return nano / 1e9; });
  new uPlot({
    width: Math.max(element.clientWidth, 300), height: 220,
    // A day on each side, so a period of one day still reads as days.
    scales: { x: { time: true, auto: false, range: [days[0] - 86400, days[days.length - 1] + 86400] } },
    series: [{}, { label: "requests", stroke: "#0b5cad", scale: "requests", points: { size: 8 } },
             { label: "cost (€)", stroke: "#a4161a", scale: "eur", points: { size: 8 } }],
    axes: [{}, { scale: "requests" }, { scale: "eur", side: 1, grid: { show: false } }],
  }, [days, usage.requests, cost], element);
})();
