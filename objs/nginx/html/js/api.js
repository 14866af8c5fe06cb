/* srsish's HTTP API from a page: where it is, Basic auth when http_api.auth is on, and a few formatters. */
"use strict";
var SrsApi = (function () {
    var params = new URLSearchParams(location.search);

    /* The API's origin: ?api=http://HOST:PORT, else this host on SRS's API port 1985. */
    function base() {
        var given = params.get("api");
        if (given) return given.replace(/\/+$/, "");
        return location.protocol + "//" + location.hostname + ":1985";
    }

    function credentials() {
        try { return JSON.parse(sessionStorage.getItem("srsish.api.auth") || "null"); } catch (e) { return null; }
    }

    function setCredentials(user, password) {
        if (user) sessionStorage.setItem("srsish.api.auth", JSON.stringify({user: user, password: password}));
        else sessionStorage.removeItem("srsish.api.auth");
    }

    /* An error whose message says in words what went wrong. */
    function ApiError(message, status) {
        this.message = message;
        this.status = status || 0;
    }
    ApiError.prototype.toString = function () { return this.message; };

    function call(method, path) {
        var headers = {};
        var auth = credentials();
        if (auth) headers["Authorization"] = "Basic " + btoa(auth.user + ":" + auth.password);
        var url = base() + path;
        return fetch(url, {method: method, headers: headers, cache: "no-store"}).then(function (res) {
            if (res.status === 401) {
                throw new ApiError(auth ? "The API refused the user name or password (HTTP 401)."
                                        : "The API asks for a user name and password (http_api.auth is on).", 401);
            }
            if (!res.ok) throw new ApiError("The API answered HTTP " + res.status + " to " + method + " " + path + ".", res.status);
            return res.json();
        }, function () {
            throw new ApiError("Cannot reach srsish's HTTP API at " + base() +
                               " (is http_api enabled and listening there? add ?api=http://HOST:PORT to this page's address).");
        }).then(function (body) {
            if (body.code !== 0) throw new ApiError("The API answered code " + body.code + " to " + method + " " + path + ".");
            return body;
        });
    }

    function escape(text) {
        return String(text === undefined || text === null ? "" : text).replace(/[&<>"']/g, function (c) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
        });
    }

    function duration(seconds) {
        seconds = Math.floor(seconds);
        var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
        var m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
        return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
    }

    /* Links between the pages keep ?api= so a page opened for another API port stays on it. */
    function keepApiInLinks() {
        var api = params.get("api");
        if (!api) return;
        document.querySelectorAll("a[href^='/']").forEach(function (a) {
            var url = new URL(a.getAttribute("href"), location.origin);
            if (!url.searchParams.has("api")) url.searchParams.set("api", api);
            a.setAttribute("href", url.pathname + url.search + url.hash);
        });
    }
    document.addEventListener("DOMContentLoaded", keepApiInLinks);

    return {base: base, keepApiInLinks: keepApiInLinks, params: params, call: call, get: function (p) { return call("GET", p); },
            del: function (p) { return call("DELETE", p); }, credentials: credentials,
            setCredentials: setCredentials, escape: escape, duration: duration};
})();
