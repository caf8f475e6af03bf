-- POST /oauth2/token (ΛiD) or /token (peer), client_credentials, client_secret_basic.
-- Same request as ../shared/peers/wrk/token_cc.lua; the Authorization header is the measured client's.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
