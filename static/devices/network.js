// Network operations: the online-rate line chart (ECharts, vendored). The page passes its data
// with json_script (#rw-online-data): {points: [[ms since epoch, percent or null], ...],
// samples, name, average}. Empty buckets are null so the line breaks where nothing was sampled.
(function () {
  var el = document.getElementById("rw-online-chart");
  var dataEl = document.getElementById("rw-online-data");
  if (!el || !dataEl || !window.echarts) return;
  var data = JSON.parse(dataEl.textContent);

  function percent(value) {
    return value === null || value === undefined || isNaN(value) ? "—" : Number(value).toFixed(1) + " %";
  }

  var chart = echarts.init(el);
  var series = {
    name: data.name,
    type: "line",
    showSymbol: false,
    connectNulls: false,
    data: data.points,
    lineStyle: { width: 2 },
    areaStyle: { opacity: 0.08 },
  };
  if (data.average !== null && data.average !== undefined) {
    series.markLine = {
      silent: true,
      symbol: "none",
      lineStyle: { type: "dashed" },
      label: { formatter: function () { return percent(data.average); } },
      data: [{ yAxis: data.average }],
    };
  }
  chart.setOption({
    grid: { left: 56, right: 56, top: 24, bottom: 32 },
    tooltip: { trigger: "axis", valueFormatter: percent },
    xAxis: { type: "time" },
    yAxis: {
      type: "value",
      max: 100,
      // Rates near 100 % would look flat from zero: start a little below the lowest value.
      min: function (range) { return isFinite(range.min) ? Math.max(0, Math.floor(range.min - 5)) : 0; },
      axisLabel: { formatter: "{value} %" },
    },
    series: [series],
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
