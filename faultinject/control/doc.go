// Package control serves faultinject proxies over HTTP with JSON bodies, so
// that tests not written in Go, shell scripts and testscript scenarios can
// drive them. Handler is an http.Handler (test it with net/http/httptest);
// the faultproxy command serves it on a TCP address.
//
// # Endpoints
//
//	GET    /proxies                         list proxies             200 [ProxyState]
//	POST   /proxies                         create (ProxySpec)       201 ProxyState
//	GET    /proxies/{proxy}                 one proxy                200 ProxyState
//	PATCH  /proxies/{proxy}                 change (ProxyPatch)      200 ProxyState
//	DELETE /proxies/{proxy}                 close and forget         204
//	POST   /proxies/{proxy}/cut             cut connections          204
//	GET    /proxies/{proxy}/toxics          list toxics              200 [ToxicSpec]
//	POST   /proxies/{proxy}/toxics          add (ToxicSpec)          201 ToxicSpec
//	GET    /proxies/{proxy}/toxics/{toxic}  one toxic                200 ToxicSpec
//	PATCH  /proxies/{proxy}/toxics/{toxic}  update (partial)         200 ToxicSpec
//	DELETE /proxies/{proxy}/toxics/{toxic}  remove                   204
//	POST   /reset                           every proxy: remove all  204
//	                                        toxics, accept, resume
//
// Errors are {"error": "message"} with status 400 (invalid request or
// toxic), 404 (unknown proxy or toxic), 409 (name taken), 410 (proxy closed
// meanwhile), 503 (handler closed) or 500. Request bodies are strict: an
// unknown field is an error, so that a typo does not silently do nothing.
//
// # Proxies
//
// Create:
//
//	POST /proxies
//	{"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379", "seed": 7}
//
// listen defaults to "127.0.0.1:0" (a free port) and seed to the handler's
// default. The reply is the proxy's state, whose "listen" is the actual
// address to connect to:
//
//	{
//	  "name": "redis", "listen": "127.0.0.1:40123", "upstream": "127.0.0.1:6379",
//	  "seed": 7, "refusing": false, "paused": false, "conns": 0,
//	  "stats": {"accepted": 0,
//	            "upstream": {"read": 0, "written": 0, "swallowed": 0},
//	            "downstream": {"read": 0, "written": 0, "swallowed": 0}},
//	  "toxics": []
//	}
//
// Change (each field optional, applied in this order):
//
//	PATCH /proxies/redis
//	{"upstream": "127.0.0.1:7000", "refuse": true, "paused": false}
//
// "refuse": true closes the listening socket (new dials get ECONNREFUSED),
// false listens again on the same address (which fails if another socket
// took the port meanwhile). A PATCH that fails changes nothing. "paused"
// holds or releases all traffic. Cut every open connection, with RST
// instead of FIN if "reset" is true (the body is optional):
//
//	POST /proxies/redis/cut
//	{"reset": true}
//
// # Toxics
//
//	POST /proxies/redis/toxics
//	{"name": "slow", "type": "latency", "direction": "downstream", "toxicity": 1,
//	 "attributes": {"delay": "100ms", "jitter": "10ms"}}
//
// name, type and direction ("upstream" = client → server, "downstream" =
// server → client) are required; toxicity defaults to 1. The attributes of
// each type, all optional and zero by default (durations are strings such as
// "150ms" or numbers of milliseconds):
//
//	latency     delay, jitter                          (durations)
//	bandwidth   bytes_per_second                       (integer, > 0)
//	slicer      average_size, size_variation (integers; average_size >= 1), delay
//	limit_data  bytes                                  (integer)
//	blackhole   (none)
//	reset_peer  timeout                                (duration)
//	slow_close  delay                                  (duration)
//
// Their meaning and bounds are those of the faultinject types of the same
// names: durations at most faultinject.MaxToxicDuration (24h), sizes at
// most faultinject.MaxToxicSize; a value out of bounds is answered with
// 400. An update merges into the current settings:
//
//	PATCH /proxies/redis/toxics/slow
//	{"attributes": {"delay": "250ms"}}
//
// keeps the jitter; {"toxicity": 0} disables the toxic for every connection.
// A "type" different from the current one starts from zero attributes.
package control
