-- POST /join with an empty body: every request takes a new place in the queue.
wrk.method = "POST"
wrk.path = "/join"
wrk.body = ""
