// Service dashboard charts (ECharts, vendored). The page passes its data with json_script
// (#rw-dashboard-data): {status: {labels, values, links}, team: {labels, values, links},
// weeks: {labels, csat, nps, answered}, names: {tickets, csat, nps, answered}}. A click on a
// bar opens the ticket list filtered by that status or team.
(function () {
  // The date inputs count only for "Date range": disable them otherwise.
  var period = document.getElementById("id_period");
  if (period) {
    var toggle = function () {
      ["id_date_from", "id_date_to"].forEach(function (id) {
        var input = document.getElementById(id);
        if (input) input.disabled = period.value !== "range";
      });
    };
    period.addEventListener("change", toggle);
    toggle();
  }
})();

(function () {
  var dataEl = document.getElementById("rw-dashboard-data");
  if (!dataEl || !window.echarts) return;
  var data = JSON.parse(dataEl.textContent);
  var charts = [];

  function bars(id, series, color) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el);
    chart.setOption({
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: series.labels },
      series: [{
        name: data.names.tickets,
        type: "bar",
        data: series.values,
        itemStyle: { color: color },
        label: { show: true, position: "right" },
        cursor: "pointer",
      }],
    });
    chart.on("click", function (params) {
      var link = series.links[params.dataIndex];
      if (link) window.location.href = link;
    });
    charts.push(chart);
  }

  function satisfaction(id, weeks) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el);
    chart.setOption({
      grid: { left: 48, right: 56, top: 36, bottom: 28 },
      legend: { top: 0 },
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          if (!items.length) return "";
          var i = items[0].dataIndex;
          var lines = [items[0].axisValueLabel];
          items.forEach(function (item) {
            var v = item.value === null || item.value === undefined ? "—" : item.value;
            lines.push(item.marker + item.seriesName + ": " + v);
          });
          lines.push(data.names.answered + ": " + weeks.answered[i]);
          return lines.join("<br>");
        },
      },
      xAxis: { type: "category", data: weeks.labels },
      yAxis: [
        { type: "value", name: data.names.csat, min: 1, max: 5, interval: 1 },
        { type: "value", name: data.names.nps, min: -100, max: 100, interval: 50 },
      ],
      series: [
        {
          name: data.names.csat, type: "line", yAxisIndex: 0, data: weeks.csat,
          connectNulls: false, symbolSize: 6,
        },
        {
          name: data.names.nps, type: "line", yAxisIndex: 1, data: weeks.nps,
          connectNulls: false, symbolSize: 6, lineStyle: { type: "dashed" },
        },
      ],
    });
    charts.push(chart);
  }

  bars("rw-chart-status", data.status, "#0d6efd");
  bars("rw-chart-team", data.team, "#6f42c1");
  satisfaction("rw-chart-satisfaction", data.weeks);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
