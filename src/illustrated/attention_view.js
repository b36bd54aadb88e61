// Draws one attention view from the JSON that illustrated.views embeds next to this script.
// The file is a single function expression; Python appends `("view-id")` to call it, so every view
// runs its own copy, defines no global variable and finds its data by the id of its root element.
// Licence: MIT, as the rest of the illustrated package.
(function (rootId) {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ROW = 22; // height of one token row in the lines view, in CSS pixels
  var THUMB = 72; // side of one thumbnail in the heads and grid overviews
  var VALUE_WIDTH = 44; // room for a weight such as 0.123 beside a token
  var MAX_LABEL_CHARS = 24; // longer tokens are cut, the full text stays in the tooltip
  var root = document.getElementById(rootId);
  // A root that is missing or already drawn (the same output rendered twice) is left alone.
  if (!root || root.getAttribute("data-itv-ready") === "1") {
    return;
  }
  var data = JSON.parse(root.querySelector("script.itv-data").textContent);
  var live = root.querySelector(".itv-live");
  var fallback = root.querySelector(".itv-static");

  var state = {
    part: data.part,
    layer: data.layer,
    head: data.head,
    style: data.style,
    selected: data.query === null ? null : { side: "query", index: data.query },
    hover: null
  };
  var controls = {};
  var detail = null; // {svg, update}
  var thumbs = []; // one {button, canvas, layer, head} per thumbnail

  // ---- helpers ----------------------------------------------------------------------------

  function svgElement(tag, attrs, parent) {
    var node = document.createElementNS(SVG_NS, tag);
    for (var name in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, name)) {
        node.setAttribute(name, String(attrs[name]));
      }
    }
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  }

  function htmlElement(tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  }

  var measureContext = null;
  function textWidth(text, fontSize) {
    if (measureContext === null) {
      var canvas = document.createElement("canvas");
      measureContext = (canvas.getContext && canvas.getContext("2d")) || false;
    }
    if (measureContext) {
      measureContext.font = fontSize + "px " + getComputedStyle(root).fontFamily;
      return Math.ceil(measureContext.measureText(text).width);
    }
    return Math.ceil(text.length * fontSize * 0.6);
  }

  function shortLabel(token) {
    return token.length > MAX_LABEL_CHARS ? token.slice(0, MAX_LABEL_CHARS - 1) + "\u2026" : token;
  }

  function maxLabelWidth(tokens) {
    var widest = 0;
    for (var i = 0; i < tokens.length; i++) {
      widest = Math.max(widest, textWidth(shortLabel(tokens[i]), 13));
    }
    return widest;
  }

  function part() {
    return data.parts[state.part];
  }

  // Indices of the parts that belong to one entry of the choice menu, in order.
  function partsOf(choice) {
    var found = [];
    for (var i = 0; i < data.parts.length; i++) {
      if (data.parts[i].choice === choice) {
        found.push(i);
      }
    }
    return found;
  }

  function showPart(index) {
    state.part = index;
    var next = part();
    state.layer = Math.min(state.layer, next.layers - 1);
    state.head = Math.min(state.head, next.heads - 1);
    var current = state.selected;
    // A selected token stays selected only if the new part has that token at that position.
    if (current !== null && current.index >= (current.side === "query" ? next.queries.length : next.keys.length)) {
      state.selected = null;
    }
    state.hover = null;
    render();
  }

  // Weight of query q on key k, in [0, 1]; the JSON stores thousandths as integers.
  function weight(p, layer, head, q, k) {
    var nq = p.queries.length;
    var nk = p.keys.length;
    return p.weights[((layer * p.heads + head) * nq + q) * nk + k] / 1000;
  }

  function headColor(head) {
    return data.colors[head % data.colors.length];
  }

  // True for colours such as yellow, on which dark numbers read better than white ones.
  function isLight(hex) {
    var value = parseInt(hex.slice(1), 16);
    var red = (value >> 16) & 255;
    var green = (value >> 8) & 255;
    var blue = value & 255;
    return 0.299 * red + 0.587 * green + 0.114 * blue > 170;
  }

  function focus() {
    return state.hover || state.selected;
  }

  function sameToken(a, b) {
    return a !== null && b !== null && a.side === b.side && a.index === b.index;
  }

  function addTitle(node, text) {
    svgElement("title", {}, node).textContent = text;
  }

  // Makes an SVG label behave like a button: hover previews, click or Enter selects.
  function makeSelectable(node, token) {
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "button");
    node.addEventListener("mouseenter", function () {
      state.hover = token;
      refresh();
    });
    node.addEventListener("mouseleave", function () {
      state.hover = null;
      refresh();
    });
    function toggle() {
      state.selected = sameToken(state.selected, token) ? null : token;
      state.hover = null;
      refresh();
    }
    node.addEventListener("click", toggle);
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggle();
      }
    });
  }

  // ---- the lines view: queries on the left, keys on the right ------------------------------

  function buildLines(p, layer, head) {
    var nq = p.queries.length;
    var nk = p.keys.length;
    var queryWidth = Math.max(maxLabelWidth(p.queries), textWidth(p.queryLabel, 11));
    var keyWidth = Math.max(maxLabelWidth(p.keys), textWidth(p.keyLabel, 11));
    var top = 26;
    var queryRight = VALUE_WIDTH + queryWidth;
    var keyLeft = queryRight + 150;
    var width = keyLeft + keyWidth + VALUE_WIDTH + 8;
    var height = top + Math.max(nq, nk) * ROW + 6;
    var color = headColor(head);
    var svg = svgElement("svg", {
      "class": "itv-detail itv-lines", width: width, height: height,
      viewBox: "0 0 " + width + " " + height, "data-layer": layer, "data-head": head
    });
    svgElement("text", { x: queryRight, y: 14, "text-anchor": "end", "class": "itv-muted" }, svg).textContent =
      p.queryLabel;
    svgElement("text", { x: keyLeft, y: 14, "class": "itv-muted" }, svg).textContent = p.keyLabel;

    function rowY(i) {
      return top + i * ROW + ROW / 2;
    }

    var queryRows = [];
    var keyRows = [];
    for (var q = 0; q < nq; q++) {
      queryRows.push(buildRow(svg, "query", q, p.queries[q], queryRight - queryWidth - 4, rowY(q),
        queryWidth + 8, queryRight, "end", VALUE_WIDTH - 6));
    }
    for (var k = 0; k < nk; k++) {
      keyRows.push(buildRow(svg, "key", k, p.keys[k], keyLeft - 4, rowY(k), keyWidth + 8, keyLeft, "start",
        keyLeft + keyWidth + 6));
    }

    var lines = [];
    var group = svgElement("g", { "class": "itv-lines-group", stroke: color, "stroke-linecap": "round" }, svg);
    svg.insertBefore(group, svg.firstChild);
    for (q = 0; q < nq; q++) {
      for (k = 0; k < nk; k++) {
        var w = weight(p, layer, head, q, k);
        if (w < 0.005) {
          continue; // invisible anyway, and skipping keeps long sentences light
        }
        var line = svgElement("line", {
          "class": "itv-line", x1: queryRight + 8, y1: rowY(q), x2: keyLeft - 8, y2: rowY(k),
          "stroke-width": 2, "data-query": q, "data-key": k
        }, group);
        lines.push({ node: line, q: q, k: k, w: w });
      }
    }

    function update() {
      var current = focus();
      for (var i = 0; i < lines.length; i++) {
        var item = lines[i];
        var shown = current === null ||
          (current.side === "query" && item.q === current.index) ||
          (current.side === "key" && item.k === current.index);
        item.node.style.display = shown ? "" : "none";
        // With one token in focus, few lines remain, so even weak ones are drawn visibly (opacity 0.15 and up).
        var opacity = current === null ? 0.85 * item.w : 0.15 + 0.85 * item.w;
        item.node.setAttribute("stroke-opacity", opacity.toFixed(3));
        item.node.setAttribute("stroke-width", current === null ? 2 : (1.5 + 3 * item.w).toFixed(2));
      }
      updateRows(queryRows, current, "query", function (index) {
        return weight(p, layer, head, index, current.index);
      });
      updateRows(keyRows, current, "key", function (index) {
        return weight(p, layer, head, current.index, index);
      });
    }

    return { svg: svg, update: update };
  }

  function buildRow(svg, side, index, token, boxX, y, boxWidth, labelX, anchor, valueX) {
    var box = svgElement("rect", {
      "class": "itv-highlight", x: boxX, y: y - ROW / 2 + 1, width: boxWidth, height: ROW - 2, rx: 3
    }, svg);
    var label = svgElement("text", {
      "class": "itv-label itv-" + side + "-label", x: labelX, y: y, "text-anchor": anchor,
      "dominant-baseline": "central", "data-index": index
    }, svg);
    label.textContent = shortLabel(token);
    addTitle(label, token);
    makeSelectable(label, { side: side, index: index });
    var value = svgElement("text", {
      "class": "itv-value", x: valueX, y: y, "text-anchor": side === "query" ? "end" : "start",
      "dominant-baseline": "central"
    }, svg);
    return { box: box, label: label, value: value, index: index };
  }

  // Shows the weights beside the tokens of the other column when one token is in focus.
  function updateRows(rows, current, side, weightOf) {
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var isFocus = current !== null && current.side === side && current.index === row.index;
      var isSelected = state.selected !== null && state.selected.side === side && state.selected.index === row.index;
      if (row.box) {
        row.box.setAttribute("class", "itv-highlight" + (isFocus ? " itv-on" : ""));
      }
      row.label.setAttribute("class", "itv-label itv-" + side + "-label" + (isFocus ? " itv-on" : ""));
      row.label.setAttribute("aria-pressed", isSelected ? "true" : "false");
      if (!row.value) {
        continue;
      }
      if (current !== null && current.side !== side) {
        row.value.textContent = weightOf(row.index).toFixed(3);
      } else {
        row.value.textContent = "";
      }
    }
  }

  // ---- the heatmap view: one row per query, one column per key ------------------------------

  function buildHeatmap(p, layer, head) {
    var nq = p.queries.length;
    var nk = p.keys.length;
    var cell = Math.max(14, Math.min(34, Math.floor(560 / Math.max(nq, nk))));
    var showNumbers = cell >= 28;
    var queryWidth = maxLabelWidth(p.queries);
    var keyWidth = maxLabelWidth(p.keys);
    var left = queryWidth + 12;
    var top = Math.ceil(keyWidth * 0.72) + 22;
    var width = left + nk * cell + Math.ceil(keyWidth * 0.72) + 8;
    var height = top + nq * cell + 8;
    var color = headColor(head);
    var lightColor = isLight(color);
    var svg = svgElement("svg", {
      "class": "itv-detail itv-heatmap", width: width, height: height,
      viewBox: "0 0 " + width + " " + height, "data-layer": layer, "data-head": head
    });
    svgElement("rect", {
      "class": "itv-frame", x: left, y: top, width: nk * cell, height: nq * cell
    }, svg);

    var cells = [];
    for (var q = 0; q < nq; q++) {
      for (var k = 0; k < nk; k++) {
        var w = weight(p, layer, head, q, k);
        var rect = svgElement("rect", {
          "class": "itv-cell", x: left + k * cell, y: top + q * cell, width: cell, height: cell,
          fill: color, "data-query": q, "data-key": k
        }, svg);
        addTitle(rect, p.queries[q] + " \u2192 " + p.keys[k] + ": " + w.toFixed(3));
        rect.addEventListener("click", selectQueryOf(q));
        var number = null;
        if (showNumbers) {
          var numberClass = "itv-number";
          if (w > 0.55) {
            numberClass += lightColor ? " itv-on-light" : " itv-on-dark";
          }
          number = svgElement("text", {
            "class": numberClass, x: left + k * cell + cell / 2,
            y: top + q * cell + cell / 2, "text-anchor": "middle", "dominant-baseline": "central"
          }, svg);
          number.textContent = w.toFixed(2);
        }
        cells.push({ node: rect, number: number, q: q, k: k, w: w });
      }
    }

    var queryRows = [];
    for (q = 0; q < nq; q++) {
      queryRows.push(buildHeatmapLabel(svg, "query", q, p.queries[q], left - 6, top + q * cell + cell / 2,
        null));
    }
    var keyRows = [];
    for (k = 0; k < nk; k++) {
      var x = left + k * cell + cell / 2;
      keyRows.push(buildHeatmapLabel(svg, "key", k, p.keys[k], x, top - 6,
        "rotate(-45 " + x + " " + (top - 6) + ")"));
    }

    function update() {
      var current = focus();
      for (var i = 0; i < cells.length; i++) {
        var item = cells[i];
        var inFocus = current === null ||
          (current.side === "query" && item.q === current.index) ||
          (current.side === "key" && item.k === current.index);
        item.node.setAttribute("fill-opacity", (inFocus ? item.w : 0.25 * item.w).toFixed(3));
        if (item.number) {
          item.number.style.opacity = inFocus ? "" : "0.35";
        }
      }
      updateRows(queryRows, current, "query", null);
      updateRows(keyRows, current, "key", null);
    }

    return { svg: svg, update: update };
  }

  function selectQueryOf(q) {
    return function () {
      var token = { side: "query", index: q };
      state.selected = sameToken(state.selected, token) ? null : token;
      refresh();
    };
  }

  function buildHeatmapLabel(svg, side, index, token, x, y, transform) {
    var attrs = {
      "class": "itv-label itv-" + side + "-label", x: x, y: y, "text-anchor": side === "query" ? "end" : "start",
      "dominant-baseline": "central", "data-index": index
    };
    if (transform) {
      attrs.transform = transform;
    }
    var label = svgElement("text", attrs, svg);
    label.textContent = shortLabel(token);
    addTitle(label, token);
    makeSelectable(label, { side: side, index: index });
    // The cells carry the numbers, so heatmap labels have no value column and no highlight box.
    return { box: null, label: label, value: null, index: index };
  }

  // ---- thumbnails of every head (one layer, or all layers) -----------------------------------

  function drawThumb(canvas, p, layer, head) {
    var ratio = window.devicePixelRatio || 1;
    canvas.width = THUMB * ratio;
    canvas.height = THUMB * ratio;
    var context = canvas.getContext("2d");
    if (!context) {
      return;
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, THUMB, THUMB);
    var nq = p.queries.length;
    var nk = p.keys.length;
    var current = focus();
    var color = headColor(head);
    context.fillStyle = color;
    context.strokeStyle = color;
    for (var q = 0; q < nq; q++) {
      for (var k = 0; k < nk; k++) {
        var w = weight(p, layer, head, q, k);
        var inFocus = current === null ||
          (current.side === "query" && q === current.index) ||
          (current.side === "key" && k === current.index);
        if (state.style === "heatmap") {
          context.globalAlpha = inFocus ? w : 0.2 * w;
          context.fillRect(k * THUMB / nk, q * THUMB / nq, THUMB / nk, THUMB / nq);
        } else if (inFocus && w >= 0.005) {
          // As in the full drawing: with one token in focus, even weak lines stay visible.
          context.globalAlpha = current === null ? w : 0.15 + 0.85 * w;
          context.beginPath();
          context.moveTo(8, (q + 0.5) * THUMB / nq);
          context.lineTo(THUMB - 8, (k + 0.5) * THUMB / nk);
          context.stroke();
        }
      }
    }
    context.globalAlpha = 1;
  }

  function buildOverview(container) {
    var p = part();
    var layers = [];
    if (data.overview === "grid") {
      for (var l = 0; l < p.layers; l++) {
        layers.push(l);
      }
    } else {
      layers.push(state.layer);
    }
    thumbs = [];
    var table = htmlElement("table", "itv-overview", container);
    var header = htmlElement("tr", "", htmlElement("thead", "", table));
    htmlElement("th", "", header);
    for (var h = 0; h < p.heads; h++) {
      htmlElement("th", "itv-muted", header, "head " + h);
    }
    var body = htmlElement("tbody", "", table);
    for (var i = 0; i < layers.length; i++) {
      var row = htmlElement("tr", "", body);
      htmlElement("th", "itv-muted", row, "layer " + layers[i]);
      for (h = 0; h < p.heads; h++) {
        var button = htmlElement("button", "itv-thumb", htmlElement("td", "", row));
        button.type = "button";
        button.title = "layer " + layers[i] + ", head " + h;
        button.setAttribute("data-layer", layers[i]);
        button.setAttribute("data-head", h);
        var canvas = htmlElement("canvas", "", button);
        canvas.style.width = THUMB + "px";
        canvas.style.height = THUMB + "px";
        button.addEventListener("click", chooseHead(layers[i], h));
        thumbs.push({ button: button, canvas: canvas, layer: layers[i], head: h });
      }
    }
  }

  function chooseHead(layer, head) {
    return function () {
      state.layer = layer;
      state.head = head;
      render();
    };
  }

  // ---- the toolbar --------------------------------------------------------------------------

  function addSelect(toolbar, name, labelText, options, value, onChange) {
    var label = htmlElement("label", "itv-control", toolbar);
    htmlElement("span", "", label, labelText + " ");
    var select = htmlElement("select", "itv-select-" + name, label);
    for (var i = 0; i < options.length; i++) {
      var option = htmlElement("option", "", select, options[i][1]);
      option.value = String(options[i][0]);
    }
    select.value = String(value);
    select.addEventListener("change", function () {
      onChange(select.value);
    });
    controls[name] = select;
    return select;
  }

  function range(count, word) {
    var options = [];
    for (var i = 0; i < count; i++) {
      options.push([i, word + " " + i]);
    }
    return options;
  }

  function buildToolbar(toolbar) {
    toolbar.textContent = "";
    controls = {};
    var p = part();
    if (data.choices && data.choices.names.length > 1) {
      var choiceOptions = [];
      for (var c = 0; c < data.choices.names.length; c++) {
        choiceOptions.push([c, data.choices.names[c]]);
      }
      addSelect(toolbar, "choice", data.choices.label, choiceOptions, p.choice, function (value) {
        // Keep the same kind of attention (say, cross-attention) when switching to another choice.
        var position = partsOf(p.choice).indexOf(state.part);
        var next = partsOf(Number(value));
        showPart(next[Math.min(position, next.length - 1)]);
      });
    }
    var siblings = partsOf(p.choice);
    if (siblings.length > 1) {
      var names = [];
      for (var i = 0; i < siblings.length; i++) {
        names.push([siblings[i], data.parts[siblings[i]].name]);
      }
      addSelect(toolbar, "part", "Attention", names, state.part, function (value) {
        showPart(Number(value));
      });
    }
    if (p.layers > 1) {
      addSelect(toolbar, "layer", "Layer", range(p.layers, "layer"), state.layer, function (value) {
        state.layer = Number(value);
        render();
      });
    }
    if (p.heads > 1) {
      addSelect(toolbar, "head", "Head", range(p.heads, "head"), state.head, function (value) {
        state.head = Number(value);
        render();
      });
    }
    addSelect(toolbar, "style", "Draw as", [["lines", "lines"], ["heatmap", "heatmap"]], state.style,
      function (value) {
        state.style = value;
        render();
      });
    htmlElement("span", "itv-hint itv-muted", toolbar, "Hover or click a token to see where it attends.");
  }

  // ---- drawing ------------------------------------------------------------------------------

  function refresh() {
    if (detail) {
      detail.update();
    }
    for (var i = 0; i < thumbs.length; i++) {
      var item = thumbs[i];
      drawThumb(item.canvas, part(), item.layer, item.head);
      var chosen = item.layer === state.layer && item.head === state.head;
      item.button.setAttribute("aria-pressed", chosen ? "true" : "false");
    }
  }

  function render() {
    var p = part();
    // The current selection, readable from outside (by tests, or by a reader's own script).
    root.setAttribute("data-part", state.part);
    root.setAttribute("data-layer", state.layer);
    root.setAttribute("data-head", state.head);
    root.setAttribute("data-style", state.style);
    live.textContent = "";
    // Entries of a choice menu may each have a title (say, the temperature); the view's title is the default.
    var title = p.title || data.title;
    if (title) {
      htmlElement("div", "itv-title", live, title);
    }
    buildToolbar(htmlElement("div", "itv-toolbar", live));
    var scroll = htmlElement("div", "itv-scroll", live);
    thumbs = [];
    if (data.overview !== "none") {
      buildOverview(scroll);
    }
    detail = state.style === "heatmap" ? buildHeatmap(p, state.layer, state.head) : buildLines(p, state.layer, state.head);
    scroll.appendChild(detail.svg);
    refresh();
  }

  render();
  live.hidden = false;
  fallback.hidden = true;
  root.setAttribute("data-itv-ready", "1");
})
