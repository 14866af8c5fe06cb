/* The players page: lists the live streams from srsish's HTTP API and plays one over HTTP-FLV (mpegts.js) or
 * HLS (hls.js) in its one <video>; ?url=STREAM_URL plays that stream at once, muted so autoplay is allowed. */
"use strict";
(function () {
    var video = document.getElementById("video");
    var urlInput = document.getElementById("url");
    var current = null;          // {kind: "flv"|"hls", url, engine}

    function show(id, text) { document.getElementById(id).textContent = text; }
    function showError(text) { show("error", text || ""); }

    function kindOf(url) {
        var path = url.split("?")[0].toLowerCase();
        if (/\.flv$/.test(path)) return "flv";
        if (/\.m3u8$/.test(path)) return "hls";
        return null;
    }

    function stop() {
        if (current && current.engine) {
            try { current.engine.destroy(); } catch (e) { /* already gone */ }
        }
        current = null;
        video.removeAttribute("src");
        video.load();
        show("state", "stopped");
        show("engine", "–");
    }

    function shareLink(url) {
        var link = location.origin + location.pathname + "?url=" + encodeURIComponent(url);
        if (SrsApi.params.get("api")) link += "&api=" + encodeURIComponent(SrsApi.params.get("api"));
        var a = document.getElementById("share-link");
        a.href = link;
        a.textContent = link;
    }

    /* mpegts.js and hls.js error codes, told in words. */
    function flvErrorText(type, detail, info) {
        var what = info && info.msg ? info.msg : detail;
        if (type === mpegts.ErrorTypes.NETWORK_ERROR) {
            if (info && info.code === 404) return "HTTP-FLV: the stream is not there (HTTP 404): nobody is publishing it, or http_remux is off for its vhost.";
            if (detail === mpegts.ErrorDetails.NETWORK_UNRECOVERABLE_EARLY_EOF) return "HTTP-FLV: the server ended the stream (the publisher left, or the player was kicked).";
            return "HTTP-FLV: network error: " + what + " (is the server reachable, and http_remux on?).";
        }
        if (type === mpegts.ErrorTypes.MEDIA_ERROR) return "HTTP-FLV: the browser cannot play this media: " + what + ".";
        return "HTTP-FLV: " + type + ": " + what + ".";
    }

    function hlsErrorText(data) {
        var status = data.response && data.response.code;
        if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR) {
            return status === 404 ? "HLS: the playlist is not there (HTTP 404): nobody is publishing this stream, or HLS is off for its vhost."
                                  : "HLS: the playlist could not be loaded" + (status ? " (HTTP " + status + ")" : "") + ".";
        }
        if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_TIMEOUT) return "HLS: the playlist took too long to load.";
        if (data.details === Hls.ErrorDetails.FRAG_LOAD_ERROR) return "HLS: a segment could not be loaded" + (status ? " (HTTP " + status + ")" : "") + ".";
        if (data.details === Hls.ErrorDetails.LEVEL_EMPTY_ERROR) return "HLS: the playlist has no segments yet.";
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) return "HLS: the browser cannot play this media (" + data.details + ").";
        return "HLS: " + data.type + " (" + data.details + ").";
    }

    function playFlv(url) {
        if (!mpegts.getFeatureList().mseLivePlayback) throw new Error("This browser cannot play HTTP-FLV (no Media Source Extensions).");
        var player = mpegts.createPlayer({type: "flv", isLive: true, url: url},
                                         {enableWorker: false, liveBufferLatencyChasing: true, lazyLoad: false});
        player.on(mpegts.Events.ERROR, function (type, detail, info) {
            showError(flvErrorText(type, detail, info));
            show("state", "error");
        });
        player.attachMediaElement(video);
        player.load();
        return player;
    }

    function playHls(url) {
        if (Hls.isSupported()) {
            var hls = new Hls({lowLatencyMode: false, liveSyncDurationCount: 2});
            hls.on(Hls.Events.ERROR, function (event, data) {
                if (data.fatal || data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR) {
                    showError(hlsErrorText(data));
                    show("state", "error");
                }
            });
            hls.loadSource(url);
            hls.attachMedia(video);
            return hls;
        }
        if (video.canPlayType("application/vnd.apple.mpegurl")) {   // Safari plays HLS itself
            video.src = url;
            return null;
        }
        throw new Error("This browser cannot play HLS (no Media Source Extensions).");
    }

    function play(url) {
        stop();
        showError("");
        url = url.trim();
        var kind = kindOf(url);
        if (!kind) {
            showError("Cannot tell how to play " + url + ": give an HTTP-FLV URL ending in .flv or an HLS URL ending in .m3u8.");
            return;
        }
        urlInput.value = url;
        shareLink(url);
        try {
            current = {kind: kind, url: url, engine: kind === "flv" ? playFlv(url) : playHls(url)};
        } catch (e) {
            showError(e.message);
            return;
        }
        show("engine", kind === "flv" ? "HTTP-FLV with mpegts.js " + mpegts.version : "HLS with hls.js " + Hls.version);
        show("state", "loading");
        video.muted = true;   // browsers only autoplay muted video; the controls unmute
        var started = video.play();
        if (started && started.catch) started.catch(function (e) {
            if (e && e.name === "NotAllowedError") showError("The browser blocked autoplay: press play on the video.");
        });
    }

    video.addEventListener("playing", function () { show("state", "playing"); showError(""); });
    video.addEventListener("waiting", function () { if (current) show("state", "buffering"); });
    video.addEventListener("error", function () {
        var err = video.error;
        if (err && current) showError("The video element failed: " + (err.message || "media error " + err.code) + ".");
    });

    /* Live latency: how far the playing position is behind the newest media received. */
    setInterval(function () {
        if (!current || !video.buffered.length) {
            show("latency", "–");
            show("position", current ? video.currentTime.toFixed(2) + " s" : "–");
            return;
        }
        var edge = video.buffered.end(video.buffered.length - 1);
        show("latency", Math.max(0, edge - video.currentTime).toFixed(2) + " s");
        show("position", video.currentTime.toFixed(2) + " s");
        var quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
        var decoded = quality ? quality.totalVideoFrames : video.webkitDecodedFrameCount;
        show("frames", decoded === undefined ? "–" : String(decoded) +
             (quality && quality.droppedVideoFrames ? " (" + quality.droppedVideoFrames + " dropped)" : ""));
    }, 500);

    /* The stream list, refreshed every 3 s; HLS is offered where the stream's vhost has it on. */
    function streamUrls(stream, vhosts) {
        var path = location.origin + "/" + stream.app + "/" + stream.name;
        var urls = {flv: path + ".flv"};
        var vhost = vhosts[stream.vhost];
        if (vhost && vhost.hls && vhost.hls.enabled) urls.hls = path + ".m3u8";
        return urls;
    }

    function renderStreams(streams, vhosts) {
        var body = document.querySelector("#streams tbody");
        var live = streams.filter(function (s) { return s.publish && s.publish.active; });
        if (!live.length) {
            body.innerHTML = '<tr><td class="empty" colspan="6">No live stream. Publish one, e.g. ' +
                'ffmpeg -re -i input.flv -c copy -f flv rtmp://' + SrsApi.escape(location.hostname) + '/live/livestream</td></tr>';
            return;
        }
        body.innerHTML = live.map(function (s) {
            var urls = streamUrls(s, vhosts);
            var v = s.video ? SrsApi.escape(s.video.codec + " " + s.video.width + "x" + s.video.height) : "–";
            var a = s.audio ? SrsApi.escape(s.audio.codec + " " + s.audio.sample_rate + " Hz") : "–";
            var buttons = '<button data-url="' + SrsApi.escape(urls.flv) + '" class="play-flv">HTTP-FLV</button>';
            if (urls.hls) buttons += ' <button data-url="' + SrsApi.escape(urls.hls) + '" class="play-hls">HLS</button>';
            return '<tr data-stream="' + SrsApi.escape(s.url) + '"><td class="mono">' + SrsApi.escape(s.url) + '</td><td>' + v +
                '</td><td>' + a + '</td><td>' + Math.max(0, s.clients - 1) + '</td><td>' +
                SrsApi.duration((Date.now() - s.live_ms) / 1000) + '</td><td>' + buttons + '</td></tr>';
        }).join("");
    }

    function refreshStreams() {
        Promise.all([SrsApi.get("/api/v1/streams"), SrsApi.get("/api/v1/vhosts")]).then(function (r) {
            var vhosts = {};
            r[1].vhosts.forEach(function (v) { vhosts[v.id] = v; });
            renderStreams(r[0].streams, vhosts);
            show("streams-error", "");
        }, function (e) {
            show("streams-error", String(e));
        });
    }

    document.querySelector("#streams").addEventListener("click", function (ev) {
        var url = ev.target.getAttribute && ev.target.getAttribute("data-url");
        if (url) play(url);
    });
    document.getElementById("play-form").addEventListener("submit", function (ev) {
        ev.preventDefault();
        play(urlInput.value);
    });
    document.getElementById("stop").addEventListener("click", stop);
    document.getElementById("share").addEventListener("click", function () {
        if (urlInput.value) shareLink(urlInput.value.trim());
    });

    refreshStreams();
    setInterval(refreshStreams, 3000);
    var wanted = SrsApi.params.get("url");
    if (wanted) play(wanted);
})();
