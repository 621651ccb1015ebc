// Draws a Cerebra page's charts: each <canvas data-chart> gets the Chart.js
// configuration stored under its id in the page's JSON block. When every chart
// has drawn, <html data-charts> holds their count; an error sets
// <html data-chart-error> instead, so a headless browser can tell a page whose
// script failed from one that rendered (tests/report/).
(function () {
  'use strict';
  var root = document.documentElement;
  function fail(message) {
    root.setAttribute('data-chart-error', String(message));
  }
  window.addEventListener('error', function (event) { fail(event.message); });

  // Readable on a laptop and on paper: dark text, no animation (a printed
  // page must not catch a chart mid-transition), a crisp canvas for print.
  function applyDefaults() {
    var d = Chart.defaults;
    d.animation = false;
    d.responsive = true;
    d.maintainAspectRatio = false;
    d.devicePixelRatio = Math.max(window.devicePixelRatio || 1, 2);
    d.color = '#1a1a1a';
    d.font.size = 13;
    d.plugins.legend.position = 'bottom';
  }

  function draw() {
    var block = document.getElementById('cerebra-charts');
    if (!block) return;
    if (typeof Chart === 'undefined') { fail('the charting library did not load'); return; }
    applyDefaults();
    var configs = JSON.parse(block.textContent);
    var charts = [];
    document.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
      var config = configs[canvas.id];
      if (!config) throw new Error('no configuration for chart ' + canvas.id);
      charts.push(new Chart(canvas, config));
    });
    // Paper is narrower than most screens: redraw to the printed width, then back.
    window.addEventListener('beforeprint', function () { charts.forEach(function (c) { c.resize(); }); });
    window.addEventListener('afterprint', function () { charts.forEach(function (c) { c.resize(); }); });
    if (!root.hasAttribute('data-chart-error')) root.setAttribute('data-charts', String(charts.length));
  }

  window.addEventListener('load', function () {
    var decoded = Array.prototype.filter.call(document.images, function (image) {
      return image.complete && image.naturalWidth > 0;
    });
    root.setAttribute('data-images', decoded.length + '/' + document.images.length);
  });

  try { draw(); } catch (error) { fail(error && error.message ? error.message : error); }
})();
