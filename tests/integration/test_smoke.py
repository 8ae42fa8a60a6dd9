def test_signup_login_and_create_task(api):
    alice = api.member("alice")
    task = api.create_task(alice, title="write tests", assignee="alice")
    assert task["assignee"] == alice.id
    r = api.client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"1"'
