// Charts of the customer reports (ECharts, vendored). Each page passes its data with
// json_script (#rw-report-data) and holds the chart elements it needs:
//   customers:    {ranked: {labels, series: [{name, values}]}, months: {labels, series}}
//   value:        {classes: {labels, values}, months: {labels, series}}
//   satisfaction: {labels, csat, nps, answered, names: {csat, nps, answered}}
//   sla:          {labels, series: [{name, values}]}
(function () {
  var dataEl = document.getElementById("rw-report-data");
  if (!dataEl || !window.echarts) return;
  var data = JSON.parse(dataEl.textContent);
  var charts = [];

  function init(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    var chart = echarts.init(el);
    charts.push(chart);
    return chart;
  }

  function stackedBars(id, block, horizontal) {
    var chart = init(id);
    if (!chart || !block) return;
    var category = { type: "category", data: block.labels };
    var value = { type: "value", minInterval: 1 };
    if (horizontal) category.inverse = true;
    chart.setOption({
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: block.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "total", data: s.values, emphasis: { focus: "series" } };
      }),
    });
  }

  function lines(id, block, percent) {
    var chart = init(id);
    if (!chart || !block) return;
    chart.setOption({
      grid: { left: 48, right: 24, top: 36, bottom: 28 },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: block.labels },
      yAxis: percent ? { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value} %" } } : { type: "value" },
      series: block.series.map(function (s) {
        return { name: s.name, type: "line", data: s.values, connectNulls: false, symbolSize: 6 };
      }),
    });
  }

  if (data.ranked) stackedBars("rw-chart-ranked", data.ranked, true);
  if (data.months && document.getElementById("rw-chart-months")) stackedBars("rw-chart-months", data.months, false);

  if (data.classes) {
    var pie = init("rw-chart-classes");
    if (pie) {
      pie.setOption({
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { bottom: 0 },
        series: [{
          type: "pie",
          radius: ["35%", "65%"],
          data: data.classes.labels.map(function (label, i) { return { name: label, value: data.classes.values[i] }; }),
        }],
      });
    }
    stackedBars("rw-chart-value-months", data.months, false);
  }

  if (data.csat) {
    var sat = init("rw-chart-satisfaction");
    if (sat) {
      sat.setOption({
        grid: { left: 48, right: 56, top: 36, bottom: 28 },
        legend: { top: 0 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.labels },
        yAxis: [
          { type: "value", name: data.names.csat, min: 1, max: 5 },
          { type: "value", name: data.names.nps, min: -100, max: 100 },
        ],
        series: [
          { name: data.names.csat, type: "line", data: data.csat, yAxisIndex: 0, symbolSize: 6 },
          { name: data.names.nps, type: "line", data: data.nps, yAxisIndex: 1, symbolSize: 6 },
          { name: data.names.answered, type: "bar", data: data.answered, yAxisIndex: 1, barMaxWidth: 18, itemStyle: { opacity: 0.25 } },
        ],
      });
    }
  }

  if (data.series && document.getElementById("rw-chart-sla")) lines("rw-chart-sla", data, true);

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
