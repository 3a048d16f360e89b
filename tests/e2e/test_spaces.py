"""Issue 3: space repositories through the API and the real huggingface_hub client."""
import pytest
import requests
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError


def api(hangar, token=None):
    return HfApi(endpoint=hangar.url, token=token or hangar.admin_token)


def create(hangar, name, token=None, **extra):
    body = {"name": name, "type": "space", "sdk": "static", **extra}
    return requests.post(hangar.url + "/api/repos/create", json=body,
                         headers=hangar.headers(token))


@pytest.fixture
def bob(hangar):
    return hangar.cli("user", "add", "bob").stdout.strip()


def test_create_info_list_delete_with_hf_client(hangar):
    client = api(hangar)
    url = client.create_repo("demo", repo_type="space", space_sdk="gradio")
    assert str(url).endswith("/spaces/admin/demo")
    again = client.create_repo("demo", repo_type="space", space_sdk="gradio", exist_ok=True)
    assert str(again) == str(url)
    info = client.space_info("admin/demo")
    assert info.id == "admin/demo"
    assert info.author == "admin"
    assert info.sdk == "gradio"
    assert info.private is False
    assert info.subdomain == "admin-demo"
    assert info.host.startswith("http://admin-demo.localhost:")
    assert info.runtime.stage == "NO_APP_FILE"
    assert [s.id for s in client.list_spaces(author="admin")] == ["admin/demo"]
    client.delete_repo("demo", repo_type="space")
    with pytest.raises(RepositoryNotFoundError):
        client.space_info("admin/demo")
    assert not (hangar.data_dir / "repos" / "admin" / "demo.git").exists()
    client.delete_repo("demo", repo_type="space", missing_ok=True)


def test_create_conflict_is_409_with_url(hangar):
    assert create(hangar, "dup").status_code == 200
    r = create(hangar, "dup")
    assert r.status_code == 409
    assert r.json()["url"].endswith("/spaces/admin/dup")
    # Same id in another case is the same space.
    assert create(hangar, "DUP").status_code == 409


@pytest.mark.parametrize("name", ["-lead", "trail-", ".dot", "dot.", "a--b", "a..b", "sp ace",
                                  "x" * 97, "caf\u00e9", "a/b/c", "", "evil.git"])
def test_invalid_names_are_refused(hangar, name):
    r = create(hangar, name)
    assert r.status_code == 400, name
    assert "error" in r.json()
    assert list((hangar.data_dir / "repos").rglob("*.git")) == []


def test_bad_bodies(hangar):
    h = hangar.headers()
    url = hangar.url + "/api/repos/create"
    assert requests.post(url, data="not json", headers=h).status_code == 400
    assert requests.post(url, json=[1, 2], headers=h).status_code == 400
    assert requests.post(url, json={"name": "x", "type": "space"}, headers=h).status_code == 400
    assert requests.post(url, json={"name": "x", "type": "space", "sdk": "php"},
                         headers=h).status_code == 400
    assert requests.post(url, json={"name": "x", "type": "model", "sdk": "static"},
                         headers=h).status_code == 400
    assert requests.post(url, json={"name": "x", "type": "space", "sdk": "static",
                                    "visibility": "secret"}, headers=h).status_code == 400
    assert requests.post(url, json={"name": "x", "type": "space", "sdk": "static"}).status_code \
        == 401


def test_private_space_access_matrix(hangar, bob):
    assert create(hangar, "secret", private=True).status_code == 200
    url = hangar.url + "/api/spaces/admin/secret"
    anon = requests.get(url)
    assert anon.status_code == 401
    assert anon.headers["X-Error-Code"] == "RepoNotFound"
    other = requests.get(url, headers=hangar.headers(bob))
    assert other.status_code == 404
    assert other.headers["X-Error-Code"] == "RepoNotFound"
    assert requests.get(url, headers=hangar.headers()).json()["private"] is True
    # Invisible in listings to others.
    assert requests.get(hangar.url + "/api/spaces").json() == []
    assert requests.get(hangar.url + "/api/spaces", headers=hangar.headers(bob)).json() == []
    ids = [s["id"] for s in requests.get(hangar.url + "/api/spaces",
                                         headers=hangar.headers()).json()]
    assert ids == ["admin/secret"]
    with pytest.raises(RepositoryNotFoundError):
        api(hangar, bob).space_info("admin/secret")


def test_write_needs_owner_and_write_token(hangar, bob):
    assert create(hangar, "pub").status_code == 200
    read_token = hangar.cli("token", "create", "admin", "--role", "read").stdout.strip()
    settings = hangar.url + "/api/spaces/admin/pub/settings"
    assert requests.put(settings, json={"visibility": "private"},
                        headers=hangar.headers(read_token)).status_code == 403
    assert requests.put(settings, json={"visibility": "private"},
                        headers=hangar.headers(bob)).status_code == 403
    r = requests.delete(hangar.url + "/api/repos/delete", json={"name": "admin/pub",
                                                                 "type": "space"},
                        headers=hangar.headers(bob))
    assert r.status_code == 403
    assert create(hangar, "mine", token=read_token).status_code == 403
    # bob cannot create in admin's namespace, but can in his own.
    assert create(hangar, "x", token=bob, organization="admin").status_code == 403
    assert create(hangar, "x", token=bob).status_code == 200
    assert requests.get(hangar.url + "/api/spaces/bob/x").json()["author"] == "bob"


def test_visibility_with_hf_client(hangar):
    client = api(hangar)
    client.create_repo("vis", repo_type="space", space_sdk="static")
    client.update_repo_settings("admin/vis", repo_type="space", private=True)
    assert client.space_info("admin/vis").private is True
    assert requests.get(hangar.url + "/api/spaces/admin/vis").status_code == 401
    client.update_repo_settings("admin/vis", repo_type="space", private=False)
    assert requests.get(hangar.url + "/api/spaces/admin/vis").status_code == 200


def test_move_renames_and_changes_subdomain(hangar, bob):
    client = api(hangar)
    client.create_repo("old", repo_type="space", space_sdk="static")
    client.move_repo("admin/old", "admin/new_name", repo_type="space")
    info = client.space_info("admin/new_name")
    assert info.subdomain == "admin-new-name"
    with pytest.raises(RepositoryNotFoundError):
        client.space_info("admin/old")
    assert (hangar.data_dir / "repos" / "admin" / "new_name.git").is_dir()
    client.create_repo("other", repo_type="space", space_sdk="static")
    with pytest.raises(HfHubHTTPError):
        client.move_repo("admin/other", "admin/new_name", repo_type="space")


def test_list_pagination_and_search(hangar):
    for i in range(5):
        assert create(hangar, f"page{i}").status_code == 200
    create(hangar, "other")
    r = requests.get(hangar.url + "/api/spaces?limit=2&search=page")
    assert r.status_code == 200 and len(r.json()) == 2
    assert 'rel="next"' in r.headers["Link"]
    ids = [s.id for s in api(hangar).list_spaces(search="page", limit=None)]
    assert sorted(ids) == [f"admin/page{i}" for i in range(5)]
    seen = []
    url = hangar.url + "/api/spaces?limit=2&search=page&sort=createdAt"
    while url:
        r = requests.get(url)
        seen += [s["id"] for s in r.json()]
        url = r.links.get("next", {}).get("url")
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert requests.get(hangar.url + "/api/spaces?limit=0").status_code == 400
    assert requests.get(hangar.url + "/api/spaces?sort=bogus").status_code == 400


def test_host_endpoint_and_revision_errors(hangar):
    create(hangar, "h")
    r = requests.get(hangar.url + "/api/spaces/admin/h/host")
    assert r.json()["host"].startswith("http://admin-h.localhost:")
    r = requests.get(hangar.url + "/api/spaces/admin/h/revision/nope")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound"
    r = requests.get(hangar.url + "/api/spaces/admin/missing")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
