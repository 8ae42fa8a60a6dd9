"""What the tests share. Test modules import from here, never from a conftest or from another
test module (tests/static/test_test_layout.py checks it).

- api: Api and Account (driving the API through the Flask client), raw, signup
- broker: welcome_events, queued (what waits in a RabbitMQ queue)
- clock: Clock, the application's clock shifted or frozen by the test
- commands: run_cli, RunningServer (`python -m tasktracker ...` as child processes)
- problems: PROBLEM_JSON, assert_problem (RFC 9457)
- proxy: TcpProxy, to cut a client off from a server
- services: IN_CI, unavailable, MemcachedProcess, amqp_url, and the session fixtures mongo_url,
  memcached, memcached_servers, rabbitmq_vhost (a plugin the root conftest registers)
- settings: TEST_JWT_SECRET, FAST_HASHING, GENEROUS_LIMITS, make_settings, env_vars, process_env
- smtp: SmtpServer (aiosmtpd), text_of, html_of, wait_for_letters
- times: iso, parse_time, soon
- waiting: wait_until

Ports and process groups come from `tasktracker.deploy.processes`, shared with `make stack`.
"""
