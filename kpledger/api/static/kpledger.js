/*
 * kpledger verification page.
 *
 * The document is hashed here, in the browser, exactly as the kpledger library does it
 * (kpledger/certificate/hashing.py and parsing.py):
 *   - a file whose first non-blank byte (past a UTF-8 BOM) is "{" is a
 *     JSON certificate: it is read strictly (refusing what the library refuses: over 1 MiB,
 *     a BOM, non-UTF-8, nesting deeper than 32, invalid JSON, not an object, duplicate keys,
 *     lone surrogates, numbers a double cannot hold faithfully) and hashed as SHA-256 over
 *     its RFC 8785 (JCS) canonical form;
 *   - any other file (a scanned PDF) is hashed as raw bytes.
 * Only the hash is sent to the service (with a batch bundle: the hash and the bundle's
 * proof). No framework, nothing loaded from elsewhere; QR codes in dropped images are
 * read with the vendored jsQR (static/vendor/jsQR.js, Apache-2.0).
 */
(function () {
  "use strict";

  var MAX_DOCUMENT_BYTES = 1024 * 1024;
  var MAX_DEPTH = 32;

  // ------------------------------------------------------------------ refusals

  function DocumentRefused(rule, field, message) {
    this.name = "DocumentRefused";
    this.rule = rule;
    this.field = field;
    this.message = message;
    this.problems = [{ field: field, rule: rule, message: message }];
  }
  DocumentRefused.prototype = Object.create(Error.prototype);
  DocumentRefused.prototype.constructor = DocumentRefused;

  function refuse(rule, message) {
    throw new DocumentRefused(rule, "$", message);
  }

  function refuseAll(problems) {
    var error = new DocumentRefused(problems[0].rule, problems[0].field, problems[0].message);
    error.problems = problems;
    if (problems.length > 1) {
      error.message = problems.slice(0, 3).map(function (p) { return p.field + ": " + p.message; }).join("; ") +
        (problems.length > 3 ? " (+" + (problems.length - 3) + " more)" : "");
    }
    throw error;
  }

  function grouped(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // ------------------------------------------------------------------ which kind of file

  /** Same rule as is_json_document(): first non-blank byte, past a BOM, is "{". */
  function isJsonDocument(bytes) {
    var end = bytes.length;
    var i = 0;
    if (end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
    while (i < end && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0d || bytes[i] === 0x0a)) i++;
    return i < end && bytes[i] === 0x7b;
  }

  // ------------------------------------------------------------------ strict loading

  var DEPTH_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]/g;

  function tooDeepAt(text) {
    var depth = 0, match;
    DEPTH_TOKEN.lastIndex = 0;
    while ((match = DEPTH_TOKEN.exec(text)) !== null) {
      var token = match[0];
      if (token === "[" || token === "{") {
        depth++;
        if (depth > MAX_DEPTH) return match.index;
      } else if (token === "]" || token === "}") {
        depth--;
      }
    }
    return -1;
  }

  /**
   * Read certificate bytes as the library's load_document() does. Objects come back as
   * Map (so that no key, "__proto__" included, is special), arrays as Array, numbers as
   * doubles (checked to be exactly what the text says).
   */
  function loadDocument(bytes) {
    if (bytes.length > MAX_DOCUMENT_BYTES) {
      refuse("json.too_large", "the document is " + grouped(bytes.length) + " bytes; the limit is " +
        grouped(MAX_DOCUMENT_BYTES) + " bytes (1 MiB)");
    }
    if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      refuse("json.bom", "the document starts with a UTF-8 byte order mark; save it as UTF-8 without BOM");
    }
    var text;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch (e) {
      refuse("json.not_utf8", "the document is not valid UTF-8");
    }
    var deep = tooDeepAt(text);
    if (deep >= 0) {
      refuse("json.too_deep", "the document nests arrays/objects more than " + MAX_DEPTH +
        " levels deep (at character " + deep + ")");
    }
    var problems = [];
    var value = new Parser(text, problems).document();
    if (!(value instanceof Map)) {
      refuse("json.not_object", "the document must be one JSON object, not " + kind(value));
    }
    if (problems.length) refuseAll(problems);
    return value;
  }

  function kind(value) {
    if (Array.isArray(value)) return "an array";
    if (typeof value === "string") return "a string";
    if (value === null) return "null";
    if (typeof value === "boolean") return "a boolean";
    return "a number";
  }

  function path(parent, key) {
    return parent === "$" ? String(key) : parent + "." + key;
  }

  function Parser(text, problems) {
    this.text = text;
    this.i = 0;
    this.problems = problems;
  }

  Parser.prototype.fail = function (what, at) {
    var upto = this.text.slice(0, at === undefined ? this.i : at);
    var line = upto.split("\n").length;
    var column = upto.length - upto.lastIndexOf("\n");
    refuse("json.invalid", "the document is not valid JSON: " + what + " at line " + line + " column " + column);
  };

  Parser.prototype.ws = function () {
    var t = this.text;
    while (this.i < t.length) {
      var c = t.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  };

  Parser.prototype.document = function () {
    this.ws();
    var value = this.value("$");
    this.ws();
    if (this.i !== this.text.length) this.fail("Extra data");
    return value;
  };

  Parser.prototype.value = function (where) {
    var t = this.text;
    if (this.i >= t.length) this.fail("Expecting value");
    var c = t[this.i];
    if (c === "{") return this.object(where);
    if (c === "[") return this.array(where);
    if (c === '"') {
      var s = this.string();
      if (!wellFormed(s)) this.problem(where, "json.surrogate", "the string contains a lone UTF-16 surrogate escape");
      return s;
    }
    for (var k = 0; k < CONSTANTS.length; k++) {  // Python reads these, then refuses them
      if (t.startsWith(CONSTANTS[k], this.i)) {
        this.i += CONSTANTS[k].length;
        this.problem(where, "json.non_finite", CONSTANTS[k] + " is not a JSON number");
        return NaN;
      }
    }
    if (c === "-" || (c >= "0" && c <= "9")) return this.number(where);
    if (t.startsWith("true", this.i)) { this.i += 4; return true; }
    if (t.startsWith("false", this.i)) { this.i += 5; return false; }
    if (t.startsWith("null", this.i)) { this.i += 4; return null; }
    this.fail("Expecting value");
  };

  Parser.prototype.problem = function (field, rule, message) {
    this.problems.push({ field: field, rule: rule, message: message });
  };

  Parser.prototype.object = function (where) {
    var t = this.text;
    var result = new Map();
    var duplicates = [];
    this.i++; // {
    this.ws();
    if (t[this.i] === "}") { this.i++; return result; }
    for (;;) {
      if (t[this.i] !== '"') this.fail("Expecting property name enclosed in double quotes");
      var key = this.string();
      this.ws();
      if (t[this.i] !== ":") this.fail("Expecting ':' delimiter");
      this.i++;
      this.ws();
      var child = path(where, key);
      var value = this.value(child);
      if (result.has(key)) {
        if (duplicates.indexOf(key) < 0) duplicates.push(key);
      }
      result.set(key, value);
      this.ws();
      if (t[this.i] === ",") { this.i++; this.ws(); continue; }
      if (t[this.i] === "}") { this.i++; break; }
      this.fail("Expecting ',' delimiter");
    }
    for (var d = 0; d < duplicates.length; d++) {
      this.problem(path(where, duplicates[d]), "json.duplicate_key",
        "the key " + JSON.stringify(duplicates[d]) + " appears more than once in the same object");
    }
    result.forEach(function (_, k) {
      if (!wellFormed(k)) this.problem(path(where, k), "json.surrogate", "the key contains a lone UTF-16 surrogate escape");
    }, this);
    return result;
  };

  Parser.prototype.array = function (where) {
    var t = this.text;
    var result = [];
    this.i++; // [
    this.ws();
    if (t[this.i] === "]") { this.i++; return result; }
    for (;;) {
      result.push(this.value(path(where, result.length)));
      this.ws();
      if (t[this.i] === ",") { this.i++; this.ws(); continue; }
      if (t[this.i] === "]") { this.i++; break; }
      this.fail("Expecting ',' delimiter");
    }
    return result;
  };

  var CONSTANTS = ["NaN", "Infinity", "-Infinity"];
  var ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

  Parser.prototype.string = function () {
    var t = this.text;
    var start = this.i;
    this.i++; // opening quote
    var out = "";
    var chunk = this.i;
    for (;;) {
      if (this.i >= t.length) this.fail("Unterminated string starting", start);
      var c = t.charCodeAt(this.i);
      if (c === 0x22) { out += t.slice(chunk, this.i); this.i++; return out; }
      if (c < 0x20) this.fail("Invalid control character");
      if (c === 0x5c) {
        out += t.slice(chunk, this.i);
        var e = t[this.i + 1];
        if (e === "u") {
          var hex = t.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("Invalid \\uXXXX escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else if (e !== undefined && Object.prototype.hasOwnProperty.call(ESCAPES, e)) {
          out += ESCAPES[e];
          this.i += 2;
        } else {
          this.fail("Invalid \\escape");
        }
        chunk = this.i;
        continue;
      }
      this.i++;
    }
  };

  var NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

  Parser.prototype.number = function (where) {
    NUMBER.lastIndex = this.i;
    var match = NUMBER.exec(this.text);
    if (match === null) this.fail("Expecting value");
    var literal = match[0];
    this.i += literal.length;
    var value = Number(literal);
    if (!isFinite(value)) {
      this.problem(where, "json.number_range", "the number " + shortText(literal) +
        " is outside the range of an IEEE 754 double");
    } else if (!sameDecimal(literal, numberToString(value))) {
      this.problem(where, "json.number_precision", "the number " + shortText(literal) +
        " has more precision than an IEEE 754 double keeps (JavaScript and RFC 8785 read it as " +
        numberToString(value) + "); write at most 15 significant digits");
    }
    return value;
  };

  function shortText(text) {
    return text.length <= 40 ? text : text.slice(0, 20) + "...(" + text.length + " characters)";
  }

  /** Exact decimal value of a JSON number literal: sign, significant digits, exponent. */
  function decimal(text) {
    var m = /^(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([-+]?[0-9]+))?$/.exec(text);
    var digits = m[2] + (m[3] || "");
    var exponent = (m[4] ? parseInt(m[4], 10) : 0) - (m[3] || "").length;
    var lead = 0;
    while (lead < digits.length && digits[lead] === "0") lead++;
    digits = digits.slice(lead);
    if (digits === "") return { zero: true };
    var trail = digits.length;
    while (digits[trail - 1] === "0") trail--;
    exponent += digits.length - trail;
    return { zero: false, negative: m[1] === "-", digits: digits.slice(0, trail), exponent: exponent };
  }

  function sameDecimal(a, b) {
    var x = decimal(a), y = decimal(b);
    if (x.zero || y.zero) return x.zero && y.zero;
    return x.negative === y.negative && x.digits === y.digits && x.exponent === y.exponent;
  }

  function wellFormed(s) {
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        var next = s.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) { i++; continue; }
        return false;
      }
      if (c >= 0xdc00 && c <= 0xdfff) return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ RFC 8785

  /** ECMAScript Number::toString, which RFC 8785 adopts (-0 becomes 0). */
  function numberToString(n) {
    return n === 0 ? "0" : String(n);
  }

  /**
   * RFC 8785 canonical text of a loaded value: object members sorted by the UTF-16 code
   * units of their names (the default sort order of JavaScript strings), strings escaped
   * as JSON.stringify does (which is what RFC 8785 specifies), numbers as ECMAScript
   * prints them, no whitespace.
   */
  function canonicalize(value) {
    if (value === null) return "null";
    if (value === true) return "true";
    if (value === false) return "false";
    if (typeof value === "number") {
      if (!isFinite(value)) throw new DocumentRefused("json.non_finite", "$", value + " is not a JSON number");
      return numberToString(value);
    }
    if (typeof value === "string") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
    if (value instanceof Map) {
      var keys = Array.from(value.keys()).sort();
      return "{" + keys.map(function (k) { return JSON.stringify(k) + ":" + canonicalize(value.get(k)); }).join(",") + "}";
    }
    if (typeof value === "object") { // a plain object (e.g. from JSON.parse), for convenience
      var map = new Map();
      Object.keys(value).forEach(function (k) { map.set(k, value[k]); });
      return canonicalize(map);
    }
    throw new TypeError("not a JSON value: " + typeof value);
  }

  function toHex(buffer) {
    var bytes = new Uint8Array(buffer), out = "0x";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  async function sha256(bytes) {
    if (!window.crypto || !window.crypto.subtle) {
      throw new Error("this browser cannot compute SHA-256 here: open the page over HTTPS (or on localhost)");
    }
    return toHex(await window.crypto.subtle.digest("SHA-256", bytes));
  }

  /**
   * Hash a document as the library's hash_document_bytes() does. Resolves to
   * {hash, kind: "json" | "raw", document: Map | null}; rejects with DocumentRefused for a
   * JSON-looking file the library would refuse.
   */
  async function hashDocument(input) {
    var bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    if (isJsonDocument(bytes)) {
      var document = loadDocument(bytes);
      var canonical = new TextEncoder().encode(canonicalize(document));
      return { hash: await sha256(canonical), kind: "json", document: document, canonical: canonical };
    }
    return { hash: await sha256(bytes), kind: "raw", document: null, canonical: null };
  }

  window.kpledger = {
    MAX_DOCUMENT_BYTES: MAX_DOCUMENT_BYTES,
    MAX_DEPTH: MAX_DEPTH,
    DocumentRefused: DocumentRefused,
    isJsonDocument: isJsonDocument,
    loadDocument: loadDocument,
    canonicalize: canonicalize,
    hashDocument: hashDocument,
    hashText: function (text) { return hashDocument(new TextEncoder().encode(text)); }
  };

  // ================================================================== the page

  var HASH = /^(0x)?[0-9a-f]{64}$/i;
  var EVENTS = {
    CertificateRequested: "Anchored by the exporter, awaiting validation",
    CertificateIssued: "Issued by the exporting authority",
    CertificateValidated: "Validated by the exporting authority",
    CertificateReceived: "Receipt confirmed by the importing authority",
    CertificateDisputed: "Discrepancy recorded by the importing authority",
    DisputeResolved: "Dispute resolved by the importing authority",
    CertificateVoided: "Voided by the exporting authority",
    CertificateSuperseded: "Superseded by an amended certificate",
    Supersedes: "Issued as an amendment",
    BatchAnchored: "Issued in a batch (Merkle root anchored)"
  };
  var STATUS_TEXT = {
    REQUESTED: "Requested", ISSUED: "Issued", RECEIVED: "Received", DISPUTED: "Disputed",
    VOIDED: "Voided", SUPERSEDED: "Superseded", EXPIRED: "Expired"
  };

  var participantNames = null;

  // Words for the verdicts the page knows; any other verdict the API sends shows as it is.
  var VERDICT_WORDS = { VALID: "VALID", INVALID: "NOT VALID", ERROR: "CANNOT CHECK NOW" };
  function verdictKind(verdict) {
    return verdict === "VALID" ? "valid" : verdict === "ERROR" ? "error" : "invalid";
  }
  function verdictWord(verdict) {
    return VERDICT_WORDS[verdict] || String(verdict || "NOT CHECKED").replace(/_/g, " ");
  }

  var HS_TEXT = {
    "7102.10": "Diamonds, unsorted",
    "7102.21": "Industrial diamonds, unworked or simply sawn, cleaved or bruted",
    "7102.31": "Non-industrial diamonds, unworked or simply sawn, cleaved or bruted"
  };
  var BUNDLE_FORMAT = "kpledger-bundle-v1";

  /** Who acted, in words: "Botswana's exporting authority (0x70997970…0dc79C8)". */
  var EVENT_ROLE = {
    CertificateRequested: ["origin", "licensed exporter"],
    CertificateIssued: ["origin", "exporting authority"],
    CertificateValidated: ["origin", "exporting authority"],
    CertificateVoided: ["origin", "exporting authority"],
    CertificateSuperseded: ["origin", "exporting authority"],
    Supersedes: ["origin", "exporting authority"],
    BatchAnchored: ["origin", "exporting authority"],
    CertificateReceived: ["destination", "importing authority"],
    CertificateDisputed: ["destination", "importing authority"],
    DisputeResolved: ["destination", "importing authority"]
  };

  function plainName(code) {
    if (code === "EU") return "the European Union";
    return countryName(code) || code;
  }

  function actorLabel(entry, cert) {
    var role = EVENT_ROLE[entry.event];
    var short = shortHex(entry.actor);
    if (!role || !cert || !cert[role[0]]) return "account " + short;
    return plainName(cert[role[0]]) + "\u2019s " + role[1] + " (" + short + ")";
  }

  /** A loaded JSON value (Maps for objects) as plain objects, to send as JSON. */
  function toPlain(value) {
    if (value instanceof Map) {
      var out = {};
      value.forEach(function (v, k) { Object.defineProperty(out, k, { value: toPlain(v), enumerable: true, writable: true, configurable: true }); });
      return out;
    }
    if (Array.isArray(value)) return value.map(toPlain);
    return value;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "class") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svgIcon(kind) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "verdict-icon");
    svg.setAttribute("aria-hidden", "true");
    var circle = document.createElementNS(ns, "circle");
    circle.setAttribute("cx", "12"); circle.setAttribute("cy", "12"); circle.setAttribute("r", "11");
    circle.setAttribute("fill", "currentColor");
    svg.appendChild(circle);
    var mark = document.createElementNS(ns, "path");
    mark.setAttribute("fill", "none");
    mark.setAttribute("stroke", "#fff");
    mark.setAttribute("stroke-width", "2.4");
    mark.setAttribute("stroke-linecap", "round");
    mark.setAttribute("stroke-linejoin", "round");
    mark.setAttribute("d", kind === "valid" ? "M6.5 12.5l3.5 3.5 7.5-8" : kind === "invalid" ? "M8 8l8 8M16 8l-8 8" : "M12 6.5v7M12 17.2v.3");
    svg.appendChild(mark);
    return svg;
  }

  function utc(ts) {
    if (ts === null || ts === undefined) return "";
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function day(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 10);
  }

  function shortHex(h) {
    return h && h.length > 20 ? h.slice(0, 10) + "…" + h.slice(-8) : h || "";
  }

  function money(n) {
    return "US$ " + Number(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function carats(n) {
    return Number(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " ct";
  }

  var regions = null;
  try { regions = new Intl.DisplayNames(["en"], { type: "region" }); } catch (e) { regions = null; }

  /** A country's English name: the ledger's participant name, else the browser's (origins need not be participants). */
  function countryName(code) {
    var name = participantNames && participantNames[code];
    if (!name && regions && /^[A-Z]{2}$/.test(code)) {
      try { name = regions.of(code); } catch (e) { name = null; }
      if (name === code) name = null;
    }
    return name || null;
  }

  function nameOf(code) {
    var name = countryName(code);
    return name ? name + " (" + code + ")" : code;
  }

  async function loadParticipants() {
    if (participantNames) return;
    try {
      var response = await fetch("/v1/participants", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      var body = await response.json();
      var names = {};
      body.participants.forEach(function (p) { names[p.code] = p.name; });
      participantNames = names;
    } catch (e) { /* names are a nicety; codes still show */ }
  }

  async function api(method, url, body) {
    var options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      return { status: 0, body: { error: "network", message: "the verification service cannot be reached" } };
    }
    var data = null;
    try { data = await response.json(); } catch (e) { data = { error: "bad_answer", message: "unexpected answer" }; }
    return { status: response.status, body: data };
  }

  // ------------------------------------------------------------------ rendering

  var resultBox, formError, hashInput, verifyButton;

  function showError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  function clearError() {
    formError.hidden = true;
    formError.textContent = "";
    hashInput.removeAttribute("aria-invalid");
  }

  /** Marks the end of a verification (the end-to-end tests wait on data-run). */
  function done() {
    runs += 1;
    resultBox.setAttribute("data-run", String(runs));
  }

  function busy(on, what) {
    verifyButton.disabled = on;
    resultBox.setAttribute("aria-busy", on ? "true" : "false");
    if (on) {
      resultBox.hidden = false;
      resultBox.replaceChildren(el("p", { class: "progress", text: what }));
    }
  }

  function verdictBanner(kind, word, reason, sub) {
    return el("div", { class: "verdict " + kind, id: "verdict", role: "status" }, [
      svgIcon(kind),
      el("div", null, [
        el("span", { class: "verdict-word", id: "verdict-word", text: word }),
        el("span", { class: "verdict-reason", id: "verdict-reason", text: reason }),
        sub ? el("span", { class: "verdict-sub", text: sub }) : null
      ])
    ]);
  }

  function hashPanel(hashed, hash) {
    var how = !hashed ? "entered by hand" :
      hashed.kind === "link" ? "from the verification link" :
      hashed.kind === "qr" ? "read here from the QR code in the image" :
      hashed.kind === "bundle" ? "computed here from the bundle's certificate (RFC 8785 canonical form), sent with its batch proof" :
      hashed.kind === "json" ? "computed here from the JSON certificate (RFC 8785 canonical form)" :
      "computed here from the file's bytes";
    return el("p", { class: "hash-line", id: "document-hash" }, ["Document hash " + hash + " — " + how]);
  }

  function fact(label, value, mono, id) {
    var dd = el("dd", { class: mono ? "mono" : "" }, [value]);
    if (id) dd.id = id;
    return el("div", { class: mono ? "wide" : "" }, [el("dt", { text: label }), dd]);
  }

  function badge(status) {
    return el("span", { class: "badge badge-" + status, id: "status-badge", text: STATUS_TEXT[status] || status });
  }

  function certificatePanel(cert, title, note) {
    var route = el("div", { class: "route", id: "route", "aria-label": "Route: from " + nameOf(cert.origin) + " to " + nameOf(cert.destination) }, [
      el("div", { class: "route-end" }, [el("span", { class: "route-role", text: "Exporting participant" }),
        el("span", { class: "route-name", id: "route-origin", text: nameOf(cert.origin) })]),
      el("span", { class: "route-arrow", "aria-hidden": "true", text: "→" }),
      el("div", { class: "route-end" }, [el("span", { class: "route-role", text: "Importing participant" }),
        el("span", { class: "route-name", id: "route-destination", text: nameOf(cert.destination) })])
    ]);
    var facts = el("dl", { class: "facts" }, [
      fact("Certificate number", cert.number, false, "certificate-number"),
      fact("Status", badge(cert.status)),
      fact("Carats", exactCarats(cert)),
      fact("Value", exactMoney(cert)),
      fact("Parcels", String(cert.parcels)),
      fact("Valid until", day(cert.expires_at))
    ]);
    if (cert.document_hash) facts.appendChild(fact("Anchored document hash", cert.document_hash, true));
    if (cert.batch_root) facts.appendChild(fact("Batch root", cert.batch_root, true));
    if (cert.superseded_by) {
      facts.appendChild(fact("Superseded by", el("a", { href: "/?h=" + cert.superseded_by, id: "superseded-by",
        class: "mono", text: cert.superseded_by }), true));
    }
    if (cert.supersedes) {
      facts.appendChild(fact("Replaces", el("a", { href: "/?h=" + cert.supersedes, id: "supersedes",
        class: "mono", text: cert.supersedes }), true));
    }
    return el("section", { class: "panel", "aria-labelledby": "cert-title" }, [
      el("div", { class: "panel-head" }, [el("h2", { id: "cert-title", text: title }), note ? el("span", { class: "panel-note", text: note }) : null]),
      route,
      facts
    ]);
  }

  function checksPanel(fragments) {
    var list = el("ul", { class: "checks", id: "checks" });
    fragments.forEach(function (f) {
      list.appendChild(el("li", { class: "check " + f.result }, [
        el("span", { class: "check-mark", "aria-hidden": "true", text: f.result === "VALID" ? "✓" : f.result === "ERROR" ? "!" : "✕" }),
        el("div", null, [
          el("span", { class: "check-name", text: f.name }),
          el("span", { class: "visually-hidden", text: f.result === "VALID" ? " passed: " : " failed: " }),
          el("span", { class: "check-code", text: f.code }),
          el("span", { class: "check-message", text: capitalised(f.message) })
        ])
      ]));
    });
    return el("section", { class: "panel", "aria-labelledby": "checks-title" }, [
      el("div", { class: "panel-head" }, [el("h2", { id: "checks-title", text: "Checks" })]), list
    ]);
  }

  function timelinePanel(entries, checkedAt, cert) {
    var list = el("ol", { class: "timeline", id: "timeline" });
    entries.forEach(function (e) {
      var meta = el("div", { class: "tl-meta" }, [
        el("span", { text: utc(e.timestamp) }),
        el("span", { text: "block " + e.block_number }),
        e.actor ? el("span", { title: e.actor, class: "tl-actor" }, ["by " + actorLabel(e, cert)]) : null,
        e.tx_hash ? el("span", { title: e.tx_hash }, ["tx ", el("span", { class: "mono", text: shortHex(e.tx_hash) })]) : null
      ]);
      list.appendChild(el("li", null, [
        el("div", { class: "tl-title", text: EVENTS[e.event] || e.event }),
        meta,
        e.detail ? el("div", { class: "tl-detail", text: e.detail }) : null
      ]));
    });
    return el("section", { class: "panel", "aria-labelledby": "timeline-title" }, [
      el("div", { class: "panel-head" }, [
        el("h2", { id: "timeline-title", text: "Timeline" }),
        checkedAt !== null && checkedAt !== undefined ? el("span", { class: "panel-note", text: "ledger read at block " + checkedAt }) : null
      ]),
      entries.length ? list : el("p", { text: "No transitions recorded." })
    ]);
  }

  function exactCarats(cert) {
    if (typeof cert.carats_text === "string") return grouped(cert.carats_text.split(".")[0]) + "." + cert.carats_text.split(".")[1] + " ct";
    return carats(cert.carats);
  }

  function exactMoney(cert) {
    if (typeof cert.value_usd_text === "string") return "US$ " + grouped(cert.value_usd_text.split(".")[0]) + "." + cert.value_usd_text.split(".")[1];
    return money(cert.value_usd);
  }

  /** The verdict beside the anchored terms, for an officer holding the paper certificate. */
  function atTheBorder(banner, cert, linkNumber) {
    var terms = el("dl", { class: "paper-terms" }, [
      fact("Certificate number", cert.number, false, "paper-number"),
      fact("From", nameOf(cert.origin)),
      fact("To", nameOf(cert.destination)),
      fact("Carat weight", exactCarats(cert), false, "paper-carats"),
      fact("Value", exactMoney(cert), false, "paper-value"),
      fact("Parcels", String(cert.parcels)),
      fact("Expires", day(cert.expires_at) + ", 23:59:59 UTC")
    ]);
    var warning = null;
    if (linkNumber && linkNumber !== cert.number) {
      warning = el("p", { class: "paper-warning", id: "link-mismatch", role: "alert",
        text: "The link names certificate " + linkNumber + ", but this document is anchored as " + cert.number +
          ": the paper and the ledger disagree." });
    }
    var panel = el("section", { class: "panel paper", id: "anchored-terms", "aria-labelledby": "paper-title" }, [
      el("div", { class: "panel-head" }, [
        el("h2", { id: "paper-title", text: "Compare with the paper in your hands" }),
        el("span", { class: "panel-note", text: "the terms anchored on the ledger" })
      ]),
      warning,
      terms
    ]);
    return el("div", { class: "border-view", id: "border-view" }, [banner, panel]);
  }

  var KNOWN_FIELDS = ["title", "number", "issuing_authority", "exporting_participant", "importing_participant",
    "exporter", "importer", "origin", "carats", "value_usd", "parcels", "hs_code", "issued_on", "expires_on"];

  function text(value) {
    if (typeof value === "string") return value;
    if (value === undefined) return "";
    return canonicalizeLoose(value);
  }

  function canonicalizeLoose(value) {
    try { return canonicalize(value); } catch (e) { return String(value); }
  }

  function partyText(party) {
    if (!(party instanceof Map)) return text(party);
    var lines = [text(party.get("name")), text(party.get("address"))];
    if (party.has("licence")) lines.push("Licence: " + text(party.get("licence")));
    return lines.filter(Boolean).join("\n");
  }

  function originText(origin) {
    if (!Array.isArray(origin)) return text(origin);
    if (origin.length === 1 && origin[0] === "MIXED") return "Mixed origin";
    return origin.map(function (code) { return typeof code === "string" ? nameOf(code) : text(code); }).join(", ");
  }

  function mapText(value) {
    if (!(value instanceof Map)) return text(value);
    var lines = [];
    value.forEach(function (v, k) { lines.push(k + ": " + text(v)); });
    return lines.join("\n");
  }

  /** Every detail of the document in hand (it stays in this browser). */
  function documentPanel(doc) {
    if (!(doc instanceof Map)) return null;
    var facts = el("dl", { class: "facts doc-facts" });
    function add(label, value, wide) {
      if (value === undefined || value === null || value === "") return;
      var item = fact(label, value);
      if (wide) item.className = "wide";
      facts.appendChild(item);
    }
    add("Issuing authority", text(doc.get("issuing_authority")), true);
    add("Exporter", partyText(doc.get("exporter")));
    add("Importer", partyText(doc.get("importer")));
    add("Exporting participant", typeof doc.get("exporting_participant") === "string" ? nameOf(doc.get("exporting_participant")) : text(doc.get("exporting_participant")));
    add("Importing participant", typeof doc.get("importing_participant") === "string" ? nameOf(doc.get("importing_participant")) : text(doc.get("importing_participant")));
    add("Country of origin", originText(doc.get("origin")), true);
    var hs = doc.get("hs_code");
    add("HS code", typeof hs === "string" ? hs + (HS_TEXT[hs] ? " — " + HS_TEXT[hs] : "") : text(hs), true);
    add("Issued on", text(doc.get("issued_on")));
    add("Expires on", text(doc.get("expires_on")));
    doc.forEach(function (value, key) {  // quality, a sourcing declaration, extensions, anything else
      if (KNOWN_FIELDS.indexOf(key) < 0) add(key.replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }), mapText(value), true);
    });
    return el("section", { class: "panel", id: "document-details", "aria-labelledby": "document-title" }, [
      el("div", { class: "panel-head" }, [
        el("h2", { id: "document-title", text: "The document in hand" }),
        el("span", { class: "panel-note", text: "read in this browser; it was not sent anywhere" })
      ]),
      facts
    ]);
  }

  // ------------------------------------------------------------------ QR codes and links

  var PERMALINK = /\/v\/([^?#]+)\?(?:[^#]*&)?h=(0x[0-9a-fA-F]{64})(?:[&#]|$)/;

  /** {number, hash} of a verification link, or null. */
  function parseLink(link) {
    var m = PERMALINK.exec(link);
    if (!m) return null;
    var number;
    try { number = decodeURIComponent(m[1]); } catch (e) { return null; }
    return { number: number, hash: m[2].toLowerCase() };
  }

  function isImage(bytes) {
    var b = bytes;
    if (b.length < 12) return false;
    if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return true;  // PNG
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true;  // JPEG
    if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) return true;  // GIF
    if (b[0] === 0x42 && b[1] === 0x4d) return true;  // BMP
    return b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
      b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50;  // WEBP
  }

  /** The text of the QR code in an image, decoded here with the vendored jsQR, or null. */
  async function readQr(bytes) {
    if (typeof window.jsQR !== "function" || typeof createImageBitmap !== "function") return null;
    var bitmap;
    try { bitmap = await createImageBitmap(new Blob([bytes])); } catch (e) { return null; }
    var scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    var width = Math.max(1, Math.round(bitmap.width * scale)), height = Math.max(1, Math.round(bitmap.height * scale));
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, height);
    context.drawImage(bitmap, 0, 0, width, height);
    var pixels = context.getImageData(0, 0, width, height);
    var code = window.jsQR(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
    return code ? code.data : null;
  }

  /** Show the permalink of what is being checked in the address bar (for sharing and printing). */
  function remember(number, hash) {
    if (!window.history || !history.replaceState) return;
    var url = number ? "/v/" + encodeURIComponent(number) + "?h=" + hash : "/?h=" + hash;
    history.replaceState(null, "", url);
  }

  // ------------------------------------------------------------------ comparing a document

  function documentTerms(doc) {
    if (!(doc instanceof Map)) return null;
    var terms = {
      number: doc.get("number"), origin: doc.get("exporting_participant"),
      destination: doc.get("importing_participant"), carats: doc.get("carats"),
      value_usd: doc.get("value_usd"), parcels: doc.get("parcels"), expires_on: doc.get("expires_on")
    };
    return typeof terms.number === "string" ? terms : null;
  }

  function differences(terms, cert) {
    var out = [];
    function differ(label, mine, theirs, show) {
      if (mine !== theirs) out.push(label + ": this document says " + show(mine) + ", the ledger holds " + show(theirs));
    }
    var plain = function (v) { return v === undefined ? "nothing" : String(v); };
    differ("exporting participant", terms.origin, cert.origin, plain);
    differ("importing participant", terms.destination, cert.destination, plain);
    differ("carats", typeof terms.carats === "number" ? Math.round(terms.carats * 100) : terms.carats,
      Math.round(cert.carats * 100), function (v) { return typeof v === "number" ? carats(v / 100) : plain(v); });
    differ("value", typeof terms.value_usd === "number" ? Math.round(terms.value_usd * 100) : terms.value_usd,
      Math.round(cert.value_usd * 100), function (v) { return typeof v === "number" ? money(v / 100) : plain(v); });
    differ("parcels", terms.parcels, cert.parcels, plain);
    differ("expiry date", terms.expires_on, day(cert.expires_at), plain);
    return out;
  }

  // ------------------------------------------------------------------ the flow

  async function verify(hash, hashed, options) {
    options = options || {};
    clearError();
    busy(true, "Checking the ledger…");
    var loading = loadParticipants();
    var request = { hash: hash };
    if (options.proof !== undefined) request.proof = options.proof;
    var answer = await api("POST", "/v1/verify", request);
    await loading;
    var children = [];
    if (answer.status !== 200) {
      var unavailable = answer.status === 503 || answer.status === 0;
      var detail = (answer.body && answer.body.message) || "the service answered HTTP " + answer.status;
      children.push(unavailable ?
        verdictBanner("error", "CANNOT CHECK NOW", "The ledger cannot be read right now. Nothing is wrong with " +
          "your document; please try again in a moment.", "Details: " + detail) :
        verdictBanner("error", "NOT CHECKED", capitalised(detail), null));
      children.push(hashPanel(hashed, hash));
      if (hashed && hashed.document) children.push(documentPanel(hashed.document));
      return finish(children);
    }
    var v = answer.body;
    var banner;
    if (v.verdict === "VALID" && v.certificate) {
      var c = v.certificate;
      banner = verdictBanner("valid", verdictWord(v.verdict), "Certificate " + c.number + " is genuine: it is anchored on the " +
        "ledger, in force, and was issued by an active participant.",
        nameOf(c.origin) + " → " + nameOf(c.destination) + " · " + (STATUS_TEXT[c.status] || c.status));
    } else if (v.code === "NOT_ANCHORED" && hashed && documentTerms(hashed.document)) {
      await explainUnknown(v, hashed, children);
      children.push(documentPanel(hashed.document));
      return finish(children);
    } else {
      banner = verdictBanner(verdictKind(v.verdict), verdictWord(v.verdict), reasonOf(v), v.code ? "Code " + v.code : null);
    }
    children.push(v.certificate ? atTheBorder(banner, v.certificate, options.linkNumber) : banner);
    children.push(hashPanel(hashed, v.document_hash));
    if (hashed && hashed.document) children.push(documentPanel(hashed.document));
    if (v.certificate) children.push(certificatePanel(v.certificate, "Certificate " + v.certificate.number));
    children.push(checksPanel(v.fragments));
    if (v.certificate) children.push(timelinePanel(v.timeline, v.checked_at_block, v.certificate));
    finish(children);
  }

  function capitalised(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  function reasonOf(v) {
    if (v.code === "NOT_ANCHORED") {
      return "No certificate with this document hash is on the ledger. The document may have been altered, " +
        "or it was never anchored.";
    }
    return capitalised(v.message);
  }

  /** Not anchored under this hash: is its number on the ledger with another document? */
  async function explainUnknown(v, hashed, children) {
    var terms = documentTerms(hashed.document);
    var lookup = await api("GET", "/v1/certificates/" + encodeURIComponent(terms.number));
    if (lookup.status === 200) {
      var cert = lookup.body.certificate;
      var diffs = differences(terms, cert);
      children.push(verdictBanner("invalid", "NOT VALID",
        "This document differs from certificate " + cert.number + " as anchored on the ledger: it has been altered, " +
        "or it is another version of that certificate.",
        diffs.length ? null : "Its terms match the ledger's, so the change is in other fields (names, addresses, dates or quality)."));
      children.push(hashPanel(hashed, v.document_hash));
      if (diffs.length) {
        var list = el("ul", { class: "differences", id: "differences" });
        diffs.forEach(function (d) { list.appendChild(el("li", { text: d })); });
        children.push(el("section", { class: "panel", "aria-labelledby": "diff-title" }, [
          el("div", { class: "panel-head" }, [el("h2", { id: "diff-title", text: "What differs from the ledger" })]), list
        ]));
      }
      children.push(certificatePanel(cert, "Certificate " + cert.number + " on the ledger", "as anchored by its exporting authority"));
      children.push(timelinePanel(lookup.body.timeline, lookup.body.checked_at_block, cert));
      return;
    }
    var why = lookup.status === 404 ?
      "Neither this document nor certificate number " + terms.number + " is on the ledger." :
      reasonOf(v);
    children.push(verdictBanner("invalid", "NOT VALID", why,
      "Ask the exporter or the exporting authority whether the certificate was anchored."));
    children.push(hashPanel(hashed, v.document_hash));
    children.push(checksPanel(v.fragments));
  }

  var runs = 0;

  function finish(children) {
    busy(false);
    resultBox.hidden = false;
    resultBox.replaceChildren.apply(resultBox, children);
    done();
    var banner = document.getElementById("verdict");
    if (banner) {
      banner.setAttribute("tabindex", "-1");
      banner.focus({ preventScroll: false });
    }
  }

  async function verifyBytes(bytes, label) {
    clearError();
    if (isImage(bytes)) {
      busy(true, "Looking for a QR code in " + label + " …");
      var found = await readQr(bytes);
      var link = found ? parseLink(found) : null;
      if (link) {
        remember(link.number, link.hash);
        await verify(link.hash, { kind: "qr", document: null }, { linkNumber: link.number });
        return;
      }
      // No kpledger QR code: the image may itself be the anchored file (a scan), hashed raw below.
    }
    busy(true, "Computing the fingerprint of " + label + " in this browser…");
    var hashed;
    try {
      hashed = await hashDocument(bytes);
      if (hashed.document instanceof Map && hashed.document.get("format") === BUNDLE_FORMAT) {
        var inner = hashed.document.get("document");
        if (!(inner instanceof Map)) refuse("bundle.document", "the bundle's document must be a certificate (a JSON object)");
        if (!(hashed.document.get("proof") instanceof Map)) refuse("bundle.proof", "the bundle's proof must be a batch proof (a JSON object)");
        var canonical = new TextEncoder().encode(canonicalize(inner));
        var digest = await sha256(canonical);
        await verify(digest, { kind: "bundle", document: inner }, { proof: toPlain(hashed.document.get("proof")) });
        return;
      }
    } catch (e) {
      busy(false);
      resultBox.hidden = false;
      var refused = e instanceof DocumentRefused;
      resultBox.replaceChildren(verdictBanner("invalid", "NOT CHECKED",
        refused ? "This file cannot be a valid certificate: " + e.message + "." : String(e.message || e),
        refused ? "Rule " + e.rule + ". The ledger's document format refuses such files, so it was not hashed." : null));
      var banner = document.getElementById("verdict");
      if (banner) { banner.setAttribute("tabindex", "-1"); banner.focus(); }
      done();
      return;
    }
    await verify(hashed.hash, hashed);
  }

  async function onFile(file) {
    if (!file) return;
    var buffer = await file.arrayBuffer();
    await verifyBytes(new Uint8Array(buffer), "“" + file.name + "”");
  }

  async function onSubmit(event) {
    event.preventDefault();
    var text = hashInput.value.trim();
    if (text === "") {
      hashInput.setAttribute("aria-invalid", "true");
      showError("Enter a document hash, paste the certificate's JSON, or choose a file.");
      hashInput.focus();
      return;
    }
    if (text.charAt(0) === "{") {
      await verifyBytes(new TextEncoder().encode(hashInput.value), "the pasted certificate");
      return;
    }
    if (!HASH.test(text)) {
      hashInput.setAttribute("aria-invalid", "true");
      var digits = text.replace(/^0x/i, "");
      showError(/^[0-9a-f]*$/i.test(digits) ?
        "A SHA-256 hash has 64 hex digits; this one has " + digits.length + "." :
        "A hash is made of hex digits (0–9, a–f), optionally after 0x.");
      hashInput.focus();
      return;
    }
    await verify("0x" + text.replace(/^0x/i, "").toLowerCase(), null);
  }

  function start() {
    resultBox = document.getElementById("result");
    formError = document.getElementById("form-error");
    hashInput = document.getElementById("hash-input");
    verifyButton = document.getElementById("verify-button");
    var fileInput = document.getElementById("file-input");
    var zone = document.getElementById("dropzone");
    document.getElementById("verify-form").addEventListener("submit", onSubmit);
    fileInput.addEventListener("change", function () {
      var file = fileInput.files && fileInput.files[0];
      onFile(file).finally(function () { fileInput.value = ""; });
    });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      var file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      onFile(file);
    });
    // A file dropped outside the zone must not navigate away from the page.
    window.addEventListener("dragover", function (e) { e.preventDefault(); });
    window.addEventListener("drop", function (e) { e.preventDefault(); });
    document.documentElement.setAttribute("data-ready", "true");
    fromAddress();
  }

  /** A permalink (/v/<number>?h=<hash>) or ?h=<hash> opens straight on its verdict. */
  function fromAddress() {
    var hash = new URLSearchParams(location.search).get("h");
    if (hash === null) return;
    var match = /^\/v\/(.+)$/.exec(location.pathname);
    var number = null;
    if (match) { try { number = decodeURIComponent(match[1]); } catch (e) { number = null; } }
    if (!HASH.test(hash)) {
      hashInput.value = hash;
      hashInput.setAttribute("aria-invalid", "true");
      showError("The link's document hash is not a SHA-256 hash (64 hex digits after 0x): check the link or scan again.");
      return;
    }
    verify("0x" + hash.replace(/^0x/i, "").toLowerCase(), { kind: "link", document: null }, { linkNumber: number });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
