/* The console page: srsish's summary, vhosts, streams, clients (with a kick button) and hook outbox, from its
 * HTTP API, refreshed every 3 s; asks for a user name and password when http_api.auth is on. */
"use strict";
(function () {
    var e = SrsApi.escape;

    function kbps(k) { return k ? (k.recv_30s || 0) + " / " + (k.send_30s || 0) : "–"; }

    function rows(tableId, items, cells, empty) {
        var body = document.querySelector("#" + tableId + " tbody");
        var width = document.querySelectorAll("#" + tableId + " thead th").length;
        body.innerHTML = items.length ? items.map(cells).join("")
                                      : '<tr><td class="empty" colspan="' + width + '">' + e(empty) + '</td></tr>';
    }

    function stats(id, pairs) {
        document.getElementById(id).innerHTML = pairs.map(function (p) {
            return "<dt>" + e(p[0]) + "</dt><dd" + (p[2] ? ' id="' + p[2] + '"' : "") + ">" + e(p[1]) + "</dd>";
        }).join("");
    }

    function renderSummary(data, version) {
        var self = data.self, sys = data.system;
        stats("summary", [["API", SrsApi.base()], ["version", version], ["pid", self.pid],
            ["uptime", SrsApi.duration(self.srs_uptime)], ["CPU", (self.cpu_percent || 0).toFixed(1) + " % of one core"],
            ["memory", (self.mem_kbyte / 1024).toFixed(1) + " MiB (" + (self.mem_percent * 100).toFixed(1) + " % of RAM)"],
            ["load", [sys.load_1m, sys.load_5m, sys.load_15m].map(function (x) { return x.toFixed(2); }).join(" ")],
            ["connections", sys.conn_srs, "connections"],
            ["bytes in / out", sys.srs_recv_bytes + " / " + sys.srs_send_bytes], ["working directory", self.cwd]]);
    }

    function renderVhosts(vhosts) {
        rows("vhosts", vhosts, function (v) {
            return "<tr><td>" + e(v.name) + '</td><td class="mono">' + e(v.id) + "</td><td>" + (v.enabled ? "yes" : "no") +
                "</td><td>" + v.streams + "</td><td>" + v.clients + "</td><td>" + kbps(v.kbps) + "</td><td>" +
                (v.hls && v.hls.enabled ? "on (" + v.hls.fragment + " s)" : "off") + "</td></tr>";
        }, "no vhost");
    }

    function renderStreams(streams) {
        rows("streams", streams, function (s) {
            var v = s.video ? s.video.codec + " " + s.video.profile + " " + s.video.width + "x" + s.video.height : "–";
            var a = s.audio ? s.audio.codec + " " + s.audio.sample_rate + " Hz " + s.audio.channel + " ch" : "–";
            var watch = s.publish.active ? '<a href="/players/?url=' + encodeURIComponent(location.origin + s.url + ".flv") +
                (SrsApi.params.get("api") ? "&api=" + encodeURIComponent(SrsApi.params.get("api")) : "") + '">play</a>' : "";
            return '<tr data-stream="' + e(s.url) + '"><td class="mono">' + e(s.url) + '</td><td class="mono">' + e(s.id) +
                "</td><td>" + e(v) + "</td><td>" + e(a) + "</td><td>" + kbps(s.kbps) + "</td><td>" +
                Math.max(0, s.clients - (s.publish.active ? 1 : 0)) + '</td><td class="mono">' +
                e(s.publish.active ? s.publish.cid : "none") + "</td><td>" + watch + "</td></tr>";
        }, "no stream: nobody is publishing");
    }

    function renderClients(clients) {
        rows("clients", clients, function (c) {
            return '<tr data-client="' + e(c.id) + '"><td class="mono">' + e(c.id) + "</td><td>" + e(c.type) +
                '</td><td class="mono">' + e(c.url) + "</td><td>" + e(c.ip) + "</td><td>" + SrsApi.duration(c.alive) +
                "</td><td>" + kbps(c.kbps) + '</td><td><button class="kick" data-id="' + e(c.id) + '">kick</button></td></tr>';
        }, "no client connected");
    }

    function renderHooks(h) {
        stats("hooks", [["pending", h.pending], ["delivered", h.delivered + " (" + h.retried + " after a retry)"],
            ["failed attempts", h.failed], ["expired", h.expired],
            ["gating hooks accepted / refused", h.accepted + " / " + h.refused]]);
        rows("hook-backends", h.backends, function (b) {
            return '<tr><td class="mono">' + e(b.url) + "</td><td>" + [b.pending, b.delivered, b.retried, b.failed,
                b.expired, b.accepted, b.refused].map(function (n) { return e(n || 0); }).join("</td><td>") + "</td></tr>";
        }, "no hook has been called");
    }

    function showError(text) { document.getElementById("error").textContent = text || ""; }

    function refresh() {
        return Promise.all([SrsApi.get("/api/v1/summaries"), SrsApi.get("/api/v1/versions"), SrsApi.get("/api/v1/vhosts"),
                            SrsApi.get("/api/v1/streams"), SrsApi.get("/api/v1/clients"), SrsApi.get("/api/v1/hooks")])
            .then(function (r) {
                renderSummary(r[0].data, r[1].data.version);
                renderVhosts(r[2].vhosts);
                renderStreams(r[3].streams);
                renderClients(r[4].clients);
                renderHooks(r[5].hooks);
                document.getElementById("login").hidden = true;
                document.getElementById("updated").textContent = "Last: " + new Date().toLocaleTimeString() + ".";
                showError("");
            }, function (err) {
                if (err.status === 401) document.getElementById("login").hidden = false;
                showError(String(err));
            });
    }

    document.getElementById("clients").addEventListener("click", function (ev) {
        var id = ev.target.getAttribute && ev.target.getAttribute("data-id");
        if (!id) return;
        ev.target.disabled = true;
        SrsApi.del("/api/v1/clients/" + encodeURIComponent(id)).then(function () {
            showError("");
            return refresh();
        }, function (err) {
            ev.target.disabled = false;
            showError("Could not kick " + id + ": " + err);
        });
    });
    document.getElementById("login-form").addEventListener("submit", function (ev) {
        ev.preventDefault();
        SrsApi.setCredentials(document.getElementById("user").value, document.getElementById("password").value);
        refresh();
    });

    stats("summary", [["API", SrsApi.base()]]);
    refresh();
    setInterval(refresh, 3000);
})();
