"""A WSGI application whose requests spend their time in one function of
their own, for gunicorn and Apache mod_wsgi (as app.wsgi)."""


def app_hot_function(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def application(environ, start_response):
    body = str(app_hot_function(30000)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
