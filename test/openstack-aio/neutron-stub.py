#!/usr/bin/python3
"""A do-nothing Neutron API on 127.0.0.1:9696 for the all-in-one cloud.

Nova 26 (Zed) has no networking of its own: it always calls Neutron. Servers created with
networks "none" (compute microversion >= 2.37) never allocate a port, but Nova still lists
ports and security groups (on delete, on server show, on info-cache refresh). This stub
answers every GET of a collection with an empty list, so those paths succeed; anything that
would create or change a network resource gets 404, so a server asking for a real network
fails to build at once instead of hanging. It is reached by Nova through
[neutron] endpoint_override and is deliberately not in the Keystone catalog: clients must
not think the cloud has a network service. Each request is logged to stderr.
"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLLECTION = re.compile(r'^/(?:v2\.0/)?([a-z0-9_-]+?)(?:\.json)?/?$')
ITEM = re.compile(r'^/(?:v2\.0/)?([a-z0-9_-]+)/[^/]+/?$')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'aio-neutron-stub/1'

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self, why):
        self.reply(404, {'NeutronError': {'type': 'NotFound', 'message': 'aio stub: ' + why,
                                          'detail': ''}})

    def do_GET(self):
        path = self.path.split('?', 1)[0]
        if path in ('', '/'):
            return self.reply(200, {'versions': [{
                'id': 'v2.0', 'status': 'CURRENT',
                'links': [{'rel': 'self', 'href': 'http://127.0.0.1:9696/v2.0/'}]}]})
        if path.rstrip('/') == '/v2.0':
            return self.reply(200, {'resources': []})
        m = COLLECTION.match(path)
        if m:
            return self.reply(200, {m.group(1).replace('-', '_'): []})
        if ITEM.match(path):
            return self.not_found('no such resource')
        return self.not_found('unknown path')

    def refuse(self):
        n = int(self.headers.get('Content-Length') or 0)
        if n:
            self.rfile.read(n)
        self.not_found('this cloud has no network service')

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse

    def log_message(self, fmt, *args):
        sys.stderr.write('%s %s\n' % (self.log_date_time_string(), fmt % args))
        sys.stderr.flush()


if __name__ == '__main__':
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(('127.0.0.1', 9696), Handler).serve_forever()
