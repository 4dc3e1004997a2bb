/*
 * fishgate season charts. renderSeason(data, root) draws the five charts of a season from
 * the JSON of fishgate.season.season_data (what `fishgate report` inlines and the review
 * desk serves as /api/season), with Chart.js 4 loaded first (bundled chart.umd.min.js).
 *
 * Each chart is drawn on the <canvas> with its id inside root (chart-daily,
 * chart-cumulative, chart-hours, chart-lengths, chart-routes); a canvas root lacks is
 * added, in a <figure class="fishgate-chart"> with a caption. Drawing again on the same
 * canvases replaces the charts. Animation is off: what is drawn is the final picture.
 * Returns {daily, cumulative, hours, lengths, routes}: the Chart objects.
 */
(function (global) {
  "use strict";

  var COLOURS = {
    atlantic_salmon: "#1f5fa8",
    sea_trout: "#8c5a2b",
    arctic_char: "#2e8b57",
    pink_salmon: "#d6338a",
    farmed_salmon: "#f28e1c",
    unknown: "#7f7f7f",
  };
  var SPARE = ["#6a3d9a", "#17becf", "#bcbd22", "#b15928", "#9e9e9e"];
  var ROUTE_COLOURS = { to_tank: "#c0392b", to_river: "#5dade2", downstream: "#a6a6a6" };
  var TITLES = {
    daily: "Passages per day (upstream above the line, downstream below)",
    cumulative: "Run timing: cumulative share of each species' upstream passages",
    hours: "Passages by hour of day (local time)",
    lengths: "Lengths",
    routes: "Upstream fish sent to the tank or the river, and downstream passages",
  };

  function colour(species, n) {
    return COLOURS[species] || SPARE[n % SPARE.length];
  }

  function name(label) {
    return String(label).replace(/_/g, " ");
  }

  function canvasFor(root, key) {
    var id = "chart-" + key;
    var canvas = root.querySelector("#" + id);
    if (!canvas) {
      var doc = root.ownerDocument || root;
      var figure = doc.createElement("figure");
      figure.className = "fishgate-chart";
      var caption = doc.createElement("figcaption");
      caption.textContent = TITLES[key];
      var box = doc.createElement("div");
      box.className = "fishgate-chart-box";
      box.style.position = "relative";
      box.style.height = "300px";
      canvas = doc.createElement("canvas");
      canvas.id = id;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", TITLES[key]);
      box.appendChild(canvas);
      figure.appendChild(caption);
      figure.appendChild(box);
      (root.nodeType === 9 ? root.body : root).appendChild(figure);
    }
    var old = global.Chart.getChart(canvas);
    if (old) {
      old.destroy();
    }
    return canvas;
  }

  function options(extra) {
    var base = {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
    };
    return Object.assign(base, extra);
  }

  function speciesLegend() {
    // one legend entry per species (its upstream dataset); a click shows or hides both
    return {
      position: "bottom",
      labels: {
        generateLabels: function (chart) {
          var standard = global.Chart.defaults.plugins.legend.labels.generateLabels(chart);
          return standard
            .filter(function (item) {
              return chart.data.datasets[item.datasetIndex].direction !== "downstream";
            })
            .map(function (item) {
              item.text = name(chart.data.datasets[item.datasetIndex].species);
              return item;
            });
        },
      },
      onClick: function (event, item, legend) {
        var chart = legend.chart;
        var species = chart.data.datasets[item.datasetIndex].species;
        var show = !chart.isDatasetVisible(item.datasetIndex);
        chart.data.datasets.forEach(function (dataset, n) {
          if (dataset.species === species) {
            chart.setDatasetVisibility(n, show);
          }
        });
        chart.update();
      },
    };
  }

  function daily(data, root) {
    var datasets = [];
    data.species.forEach(function (species, n) {
      var counts = data.daily[species];
      datasets.push({
        label: name(species) + " upstream",
        species: species,
        direction: "upstream",
        data: counts.upstream.slice(),
        backgroundColor: colour(species, n),
        stack: "passages",
      });
      datasets.push({
        label: name(species) + " downstream",
        species: species,
        direction: "downstream",
        data: counts.downstream.map(function (v) {
          return -v;
        }),
        backgroundColor: colour(species, n) + "80",
        stack: "passages",
      });
    });
    return new global.Chart(canvasFor(root, "daily"), {
      type: "bar",
      data: { labels: data.days.slice(), datasets: datasets },
      options: options({
        plugins: {
          legend: speciesLegend(),
          tooltip: {
            filter: function (item) {
              return item.raw !== 0;
            },
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + Math.abs(item.raw);
              },
            },
          },
        },
        scales: {
          x: { stacked: true },
          y: {
            stacked: true,
            title: { display: true, text: "passages (downstream below 0)" },
            ticks: {
              precision: 0,
              callback: function (value) {
                return Math.abs(value);
              },
            },
          },
        },
      }),
    });
  }

  function cumulative(data, root) {
    var points = data.days.length > 40 ? 0 : 3;
    var datasets = data.species
      .map(function (species, n) {
        if (!data.cumulative[species]) {
          return null;
        }
        return {
          label: name(species),
          data: data.cumulative[species].map(function (share) {
            return Math.round(share * 1000) / 10;
          }),
          borderColor: colour(species, n),
          backgroundColor: colour(species, n),
          pointRadius: points,
          borderWidth: 2,
          fill: false,
        };
      })
      .filter(Boolean);
    return new global.Chart(canvasFor(root, "cumulative"), {
      type: "line",
      data: { labels: data.days.slice(), datasets: datasets },
      options: options({
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + item.raw + " %";
              },
            },
          },
        },
        scales: {
          y: {
            min: 0,
            max: 100,
            title: { display: true, text: "% of the species' upstream run" },
          },
        },
      }),
    });
  }

  function bySpecies(data, root, key, values, stacked) {
    return new global.Chart(canvasFor(root, key), {
      type: "bar",
      data: {
        labels: values.labels,
        datasets: data.species.map(function (species, n) {
          return {
            label: name(species),
            data: values.counts(species).slice(),
            backgroundColor: colour(species, n),
          };
        }),
      },
      options: options({
        scales: {
          x: { stacked: stacked, title: { display: true, text: values.axis } },
          y: { stacked: stacked, ticks: { precision: 0 }, title: { display: true, text: "passages" } },
        },
      }),
    });
  }

  function routes(data, root) {
    var keys = ["to_tank", "to_river", "downstream"];
    var labels = { to_tank: "upstream, to the tank", to_river: "upstream, to the river", downstream: "downstream" };
    return new global.Chart(canvasFor(root, "routes"), {
      type: "bar",
      data: {
        labels: data.species.map(name),
        datasets: keys.map(function (key) {
          return {
            label: labels[key],
            data: data.species.map(function (species) {
              return data.routes[species][key];
            }),
            backgroundColor: ROUTE_COLOURS[key],
          };
        }),
      },
      options: options({
        indexAxis: "y",
        interaction: { mode: "index", intersect: false, axis: "y" },
        scales: {
          x: { stacked: true, ticks: { precision: 0 }, title: { display: true, text: "passages" } },
          y: { stacked: true },
        },
      }),
    });
  }

  function renderSeason(data, root) {
    if (!global.Chart) {
      throw new Error("renderSeason: load Chart.js (chart.umd.min.js) before season.js draws");
    }
    root = root || global.document;
    var hours = [];
    for (var h = 0; h < 24; h++) {
      hours.push((h < 10 ? "0" : "") + h);
    }
    var width = data.lengths.bin_cm;
    return {
      daily: daily(data, root),
      cumulative: cumulative(data, root),
      hours: bySpecies(data, root, "hours", {
        labels: hours,
        axis: "local hour (" + data.zone + ")",
        counts: function (species) {
          return data.hours[species];
        },
      }, true),
      lengths: bySpecies(data, root, "lengths", {
        labels: data.lengths.bins.map(function (low) {
          return low + "\u2013" + (low + width);
        }),
        axis: "length, cm (bins of " + width + " cm; passages without a length left out)",
        counts: function (species) {
          return data.lengths.counts[species];
        },
      }, false),
      routes: routes(data, root),
    };
  }

  global.renderSeason = renderSeason;
  if (typeof module !== "undefined" && module.exports) {
    module.exports = { renderSeason: renderSeason };
  }
})(typeof window !== "undefined" ? window : this);
