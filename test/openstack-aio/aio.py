#!/usr/bin/python3
"""Helper for the all-in-one cloud: talks to the APIs in one process, because the openstack
CLI needs several seconds per call on a 2-core machine.

  aio.py identity           create (idempotently) the service project, service users, catalog,
                            the two provider projects and their users, flavors
  aio.py wait-compute SECS [SINCE]  wait until conductor, scheduler and compute are up (with
                            a heartbeat at or after the epoch SINCE) and the hypervisor is
                            known to Placement
  aio.py wait-volume SECS [SINCE]   wait until cinder-scheduler and cinder-volume are up (with
                            a heartbeat at or after the epoch SINCE)
  aio.py check CLOUDS_YAML  get a token for every cloud in clouds.yaml

Admin credentials come from the OS_* variables; AIO_PASSWORD is every other password.
Only keystoneauth1 (a dependency of every Debian OpenStack client) is used.
"""
import json
import os
import sys
import time

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

PASS = os.environ.get('AIO_PASSWORD', 'chromogenic-aio')
REGION = os.environ.get('OS_REGION_NAME', 'RegionOne')
SERVICE_USERS = ('glance', 'placement', 'nova', 'cinder')
CATALOG = (('image', 'glance', 'http://127.0.0.1:9292'),
           ('placement', 'placement', 'http://127.0.0.1:8778'),
           ('compute', 'nova', 'http://127.0.0.1:8774/v2.1'),
           ('volumev3', 'cinderv3', 'http://127.0.0.1:8776/v3/%(project_id)s'))
# provider projects for migration tests: project name -> user name (role: member)
PROVIDERS = (('provider-a', 'provider-a'), ('provider-b', 'provider-b'))
# id, name, ram MB, disk GB, vcpus
FLAVORS = (('1', 'm1.tiny', 64, 1, 1),      # the tiny boot-sector test image
           ('2', 'm1.small', 512, 3, 1))    # the project's 2 GiB Debian sample image


def admin_session():
    auth = v3.Password(auth_url=os.environ['OS_AUTH_URL'],
                       username=os.environ.get('OS_USERNAME', 'admin'),
                       password=os.environ['OS_PASSWORD'],
                       project_name=os.environ.get('OS_PROJECT_NAME', 'admin'),
                       user_domain_name='Default', project_domain_name='Default')
    return ksa_session.Session(auth=auth)


def wait_token(sess, secs=60):
    deadline = time.time() + secs
    while True:
        try:
            sess.get_token()
            return
        except Exception as e:  # keystone still starting
            if time.time() > deadline:
                sys.exit('aio.py: no admin token from keystone within %ds: %s' % (secs, e))
            time.sleep(1)


class Keystone:
    def __init__(self, sess):
        self.s = sess
        self.kw = dict(endpoint_filter={'service_type': 'identity', 'interface': 'public'})

    def get(self, path):
        return self.s.get(path, **self.kw).json()

    def post(self, path, body):
        return self.s.post(path, json=body, **self.kw).json()

    def find(self, coll, name, create=None, **query):
        q = '&'.join(['name=%s' % name] + ['%s=%s' % kv for kv in query.items()])
        found = self.get('/%s?%s' % (coll, q))[coll]
        if found:
            return found[0]
        if create is None:
            raise SystemExit('aio.py: %s %s not found' % (coll, name))
        body = dict(create, name=name)
        created = self.post('/' + coll, {coll[:-1]: body})[coll[:-1]]
        print('created %s %s' % (coll[:-1], name))
        return created

    def user(self, name, project):
        u = self.find('users', name, {'domain_id': 'default', 'password': PASS,
                                      'default_project_id': project['id']},
                      domain_id='default')
        # keep the password in step with AIO_PASSWORD
        self.s.patch('/users/%s' % u['id'], json={'user': {'password': PASS}}, **self.kw)
        return u

    def grant(self, role, user, project):
        self.s.put('/projects/%s/users/%s/roles/%s' % (project['id'], user['id'], role['id']),
                   **self.kw)


def cmd_identity():
    sess = admin_session()
    wait_token(sess)
    ks = Keystone(sess)
    dom = {'domain_id': 'default'}
    admin = ks.find('roles', 'admin')
    member = ks.find('roles', 'member')
    reader = ks.find('roles', 'reader')
    service_role = ks.find('roles', 'service', {})
    service = ks.find('projects', 'service', dict(dom, description='AIO service project'),
                      domain_id='default')
    for name in SERVICE_USERS:
        u = ks.user(name, service)
        for r in (admin, service_role):
            ks.grant(r, u, service)
    for stype, name, url in CATALOG:
        svcs = ks.get('/services?type=%s' % stype)['services']
        svc = svcs[0] if svcs else ks.post('/services', {'service': {
            'type': stype, 'name': name, 'enabled': True}})['service']
        have = {e['interface']: e for e in
                ks.get('/endpoints?service_id=%s' % svc['id'])['endpoints']}
        for itf in ('public', 'internal', 'admin'):
            if itf not in have:
                ks.post('/endpoints', {'endpoint': {'service_id': svc['id'], 'url': url,
                                                    'interface': itf, 'region_id': REGION}})
            elif have[itf]['url'] != url:
                ks.s.patch('/endpoints/%s' % have[itf]['id'],
                           json={'endpoint': {'url': url}}, **ks.kw)
    admin_user = ks.find('users', 'admin', domain_id='default')
    for pname, uname in PROVIDERS:
        p = ks.find('projects', pname, dict(dom, description='AIO %s' % pname),
                    domain_id='default')
        u = ks.user(uname, p)
        for r in (member, reader):
            ks.grant(r, u, p)
        # the admin user may scope to the provider projects too (admin-only operations)
        ks.grant(admin, admin_user, p)
    # flavors (nova-api must be up; its endpoint is in the catalog now, but the token's
    # catalog was fetched before: get a new token)
    sess.invalidate()
    nkw = dict(endpoint_filter={'service_type': 'compute', 'interface': 'public'})
    deadline = time.time() + 120
    while True:
        try:
            have = {f['name'] for f in sess.get('/flavors', **nkw).json()['flavors']}
            break
        except (ksa_exc.ConnectFailure, ksa_exc.EndpointNotFound, ksa_exc.HttpError) as e:
            if time.time() > deadline:
                sys.exit('aio.py: nova-api did not answer within 120s: %s' % e)
            if isinstance(e, ksa_exc.EndpointNotFound):
                sess.invalidate()
            time.sleep(1)
    for fid, name, ram, disk, vcpus in FLAVORS:
        if name not in have:
            sess.post('/flavors', json={'flavor': {'id': fid, 'name': name, 'ram': ram,
                                                   'disk': disk, 'vcpus': vcpus}}, **nkw)
            print('created flavor %s' % name)
    print('identity, catalog and flavors ok')


def _epoch(ts):
    # nova gives UTC timestamps without a zone, e.g. 2026-11-25T22:15:52.000000
    import calendar
    ts = (ts or '1970-01-01T00:00:00').split('.')[0].rstrip('Z')
    return calendar.timegm(time.strptime(ts, '%Y-%m-%dT%H:%M:%S'))


def cmd_wait_compute(secs, since=0):
    sess = admin_session()
    wait_token(sess, secs)
    nkw = dict(endpoint_filter={'service_type': 'compute', 'interface': 'public'},
               headers={'OpenStack-API-Version': 'compute 2.53'}, raise_exc=False)
    pkw = dict(endpoint_filter={'service_type': 'placement', 'interface': 'public'},
               raise_exc=False)
    deadline = time.time() + secs
    state = ''
    while True:
        try:
            r = sess.get('/os-services', **nkw)
            # "up" only counts from a heartbeat sent after the process started (a
            # restarted service is "up" on its old heartbeat for a minute)
            svc = {s['binary']: s['state'] if _epoch(s.get('updated_at')) >= since
                   else 'stale' for s in r.json().get('services', [])} \
                if r.status_code == 200 else {}
            r = sess.get('/resource_providers', **pkw)
            rps = r.json().get('resource_providers', []) if r.status_code == 200 else []
            state = 'services=%s resource_providers=%d' % (
                json.dumps(svc, sort_keys=True), len(rps))
            if all(svc.get(b) == 'up' for b in
                   ('nova-conductor', 'nova-scheduler', 'nova-compute')) and rps:
                print('compute ready: ' + state)
                return
        except ksa_exc.ClientException as e:
            state = str(e)
        if time.time() > deadline:
            sys.exit('aio.py: compute not ready within %ds: %s' % (secs, state))
        time.sleep(2)


def cmd_wait_volume(secs, since=0):
    sess = admin_session()
    wait_token(sess, secs)
    ckw = dict(endpoint_filter={'service_type': 'volumev3', 'interface': 'public'},
               raise_exc=False)
    deadline = time.time() + secs
    state = ''
    while True:
        try:
            r = sess.get('/os-services', **ckw)
            svc = {s['binary']: s['state'] if _epoch(s.get('updated_at')) >= since
                   else 'stale' for s in r.json().get('services', [])} \
                if r.status_code == 200 else {}
            state = 'services=%s' % json.dumps(svc, sort_keys=True)
            if all(svc.get(b) == 'up' for b in ('cinder-scheduler', 'cinder-volume')):
                print('volume ready: ' + state)
                return
        except ksa_exc.ClientException as e:
            state = str(e)
        if time.time() > deadline:
            sys.exit('aio.py: volume service not ready within %ds: %s' % (secs, state))
        time.sleep(2)


def cmd_check(path):
    import yaml  # python3-yaml: a dependency of the openstack clients
    with open(path) as f:
        clouds = yaml.safe_load(f)['clouds']
    bad = []
    for name, c in sorted(clouds.items()):
        a = c['auth']
        auth = v3.Password(auth_url=a['auth_url'], username=a['username'],
                           password=a['password'], project_name=a['project_name'],
                           user_domain_name=a['user_domain_name'],
                           project_domain_name=a['project_domain_name'])
        try:
            ksa_session.Session(auth=auth).get_token()
            print('%s: token ok' % name)
        except Exception as e:
            print('%s: NO TOKEN: %s' % (name, e))
            bad.append(name)
    if bad:
        sys.exit(1)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == 'identity':
        cmd_identity()
    elif cmd == 'wait-compute':
        cmd_wait_compute(int(sys.argv[2]) if len(sys.argv) > 2 else 180,
                         int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif cmd == 'wait-volume':
        cmd_wait_volume(int(sys.argv[2]) if len(sys.argv) > 2 else 180,
                        int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif cmd == 'check':
        cmd_check(sys.argv[2])
    else:
        sys.exit(__doc__)
