-- GET /bench/hello: the framework's own JSON hello, served by the same app process.
wrk.method = "GET"
wrk.path = "/bench/hello"
