// Charts of the onboarding funnel and workload reports (ECharts, vendored). Each page passes
// its data with json_script: #rw-funnel-data {steps, reached, median, p90, bottleneck, started,
// completed, names} or #rw-workload-data {weeks, series: [{key, name, values}]}.
(function () {
  if (!window.echarts) return;
  var charts = [];

  function read(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function init(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    var chart = echarts.init(el);
    charts.push(chart);
    return chart;
  }

  var funnel = read("rw-funnel-data");
  if (funnel) {
    var funnelChart = init("rw-funnel-chart");
    if (funnelChart) {
      var items = [{ name: funnel.names.started, value: funnel.started }];
      funnel.steps.forEach(function (name, i) {
        items.push({ name: (i + 1) + ". " + name, value: funnel.reached[i] });
      });
      items.push({ name: funnel.names.completed, value: funnel.completed });
      funnelChart.setOption({
        tooltip: { trigger: "item", formatter: "{b}: {c}" },
        series: [{
          type: "funnel",
          sort: "none",
          left: 8, right: 8, top: 8, bottom: 8,
          min: 0,
          max: Math.max(funnel.started, 1),
          minSize: "4%",
          gap: 1,
          label: { show: true, position: "inside", formatter: "{c}" },
          data: items,
        }],
      });
    }
    var timesChart = init("rw-funnel-times");
    if (timesChart) {
      var labels = funnel.steps.map(function (name, i) { return (i + 1) + ". " + name; });
      function marked(values, color) {
        return values.map(function (value, i) {
          return { value: value, itemStyle: { color: i === funnel.bottleneck ? "#dc3545" : color } };
        });
      }
      timesChart.setOption({
        grid: { left: 8, right: 40, top: 28, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", name: funnel.names.hours },
        yAxis: { type: "category", inverse: true, data: labels, axisLabel: { width: 180, overflow: "truncate" } },
        series: [
          { name: funnel.names.median, type: "bar", data: marked(funnel.median, "#0d6efd") },
          { name: funnel.names.p90, type: "bar", data: marked(funnel.p90, "#6ea8fe") },
        ],
      });
    }
  }

  var workload = read("rw-workload-data");
  if (workload) {
    var weekly = init("rw-workload-chart");
    if (weekly) {
      weekly.setOption({
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: workload.weeks },
        yAxis: { type: "value", minInterval: 1 },
        series: workload.series.map(function (s) {
          return { name: s.name, type: s.key.indexOf("received") >= 0 || s.key.indexOf("assigned") >= 0 ? "line" : "bar", data: s.values };
        }),
      });
    }
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
