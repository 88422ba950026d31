#!/usr/bin/python3
"""Checks the Kubernetes manifests in deploy/k8s without a cluster: every
kustomization renders with `kubectl kustomize` (no warnings), and the
rendered objects hang together.

Usage: check_k8s.py SOURCE_DIR CHECK...   (exit 1 on any failure)

Checks (ctest K8s.<Name>, tests/deploy/CMakeLists.txt):
  render      `kubectl kustomize` succeeds, silently, for every kustomization
              under deploy/k8s, and yields the kinds that kustomization must
  objects     for every rendered kustomization: the StatefulSet keeps its
              state on a volumeClaimTemplate mounted at /var/lib/fedlearn;
              probes and Prometheus annotations name ports the container
              declares; Services and NetworkPolicies select the pods'
              labels; every ConfigMap, Secret and PVC a pod uses is rendered
              or (Secrets only) created from a kit as documented; Secrets
              mount read-only with mode 0400; the security context; images
              and their tag (the project version); the scale-out Job's sizes
              agree with sim.toml and the coordinator it dials
  mutations   each object check rejects a rendering with one violation planted
"""

import copy
import os
import re
import subprocess
import sys
import tomllib

import yaml

K8S = "deploy/k8s"
UID = 10001
METRICS_PORT = 9464
STATE_DIR = "/var/lib/fedlearn"
# What each kustomization must render, and the Secrets its pods use that an
# operator creates from a fedlearn-certs kit (never generated, never in git).
EXPECTED = {
    "coordinator": {
        "kinds": {"StatefulSet", "Service", "ConfigMap", "NetworkPolicy"},
        "external_secrets": {"fedlearn-coordinator-certs"},
    },
    "site": {
        "kinds": {"Deployment", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy"},
        "external_secrets": {"fedlearn-site-certs"},
    },
    "scale-out": {
        "kinds": {"StatefulSet", "Service", "ConfigMap", "NetworkPolicy", "Job",
                  "PersistentVolumeClaim"},
        "external_secrets": {"fedlearn-sim-ca"},
    },
}
IMAGE_OF_COMPONENT = {"coordinator": "fedlearn-coordinator", "client": "fedlearn-client",
                      "client-pool": "fedlearn-client"}


def kustomizations(src):
    root = os.path.join(src, K8S)
    found = []
    for dirpath, _, files in os.walk(root):
        if "kustomization.yaml" in files:
            found.append(os.path.relpath(dirpath, root))
    return sorted(found)


def render(src, name):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(src, K8S, name)],
                         capture_output=True, text=True, check=False)
    return out.returncode, out.stdout, out.stderr


def load(src, name):
    code, out, err = render(src, name)
    if code != 0:
        raise RuntimeError(f"kubectl kustomize {name} failed: {err}")
    return [o for o in yaml.safe_load_all(out) if o]


def project_version(src):
    text = open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8").read()
    return re.search(r"project\(fedlearn VERSION ([0-9.]+)", text).group(1)


def check_render(src):
    errors = []
    names = kustomizations(src)
    if set(names) != set(EXPECTED):
        errors.append(f"kustomizations {names}; this checker knows {sorted(EXPECTED)}: "
                      "add the new one to EXPECTED")
    for name in names:
        try:
            code, out, err = render(src, name)
        except FileNotFoundError:
            return ["kubectl not found: install it (kubectl kustomize renders the manifests)"]
        if code != 0:
            errors.append(f"{name}: kubectl kustomize failed: {err.strip()}")
            continue
        if err.strip():
            errors.append(f"{name}: kubectl kustomize warned: {err.strip()}")
        kinds = {o["kind"] for o in yaml.safe_load_all(out) if o}
        want = EXPECTED.get(name, {}).get("kinds", set())
        if want - kinds:
            errors.append(f"{name}: renders no {sorted(want - kinds)}")
        print(f"{name}: renders {sorted(kinds)}")
    return errors


def workloads(objs):
    for o in objs:
        if o["kind"] in ("StatefulSet", "Deployment", "Job"):
            yield o, o["spec"]["template"]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_names(container):
    ports = container.get("ports", [])
    return {p.get("name") for p in ports} | {p["containerPort"] for p in ports}


def check_probes(wname, c, errors):
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                       ("startupProbe", None)):
        probe = c.get(kind)
        if probe is None:
            if kind != "startupProbe" and c.get("ports"):
                errors.append(f"{wname}/{c['name']}: no {kind}")
            continue
        get = probe.get("httpGet")
        if not get:
            errors.append(f"{wname}/{c['name']}: {kind} is not an httpGet")
            continue
        if get["port"] not in port_names(c):
            errors.append(f"{wname}/{c['name']}: {kind} port {get['port']} is not a declared port")
        if path and get.get("path") != path:
            errors.append(f"{wname}/{c['name']}: {kind} path {get.get('path')}, want {path}")


def check_annotations(wname, pod, containers, errors):
    ann = pod["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true":
        return
    declared = {p["containerPort"] for c in containers for p in c.get("ports", [])}
    if int(ann.get("prometheus.io/port", "0")) not in declared:
        errors.append(f"{wname}: prometheus.io/port {ann.get('prometheus.io/port')} is not a declared port")
    if ann.get("prometheus.io/path") != "/metrics":
        errors.append(f"{wname}: prometheus.io/path is not /metrics")
    if METRICS_PORT not in declared:
        errors.append(f"{wname}: no container declares the metrics port {METRICS_PORT}")


def check_security(wname, pod_spec, errors):
    sc = pod_spec.get("securityContext", {})
    for key, want in (("runAsNonRoot", True), ("runAsUser", UID), ("runAsGroup", UID),
                      ("fsGroup", UID)):
        if sc.get(key) != want:
            errors.append(f"{wname}: pod securityContext.{key} is {sc.get(key)}, want {want}")
    if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{wname}: seccompProfile is not RuntimeDefault")
    if pod_spec.get("automountServiceAccountToken") is not False:
        errors.append(f"{wname}: automountServiceAccountToken is not false")
    if "terminationGracePeriodSeconds" not in pod_spec:
        errors.append(f"{wname}: terminationGracePeriodSeconds not set")
    for c in pod_spec["containers"]:
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{wname}/{c['name']}: allowPrivilegeEscalation is not false")
        if csc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{wname}/{c['name']}: readOnlyRootFilesystem is not true")
        if "ALL" not in csc.get("capabilities", {}).get("drop", []):
            errors.append(f"{wname}/{c['name']}: capabilities do not drop ALL")
        res = c.get("resources", {})
        for section in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(section, {}):
                    errors.append(f"{wname}/{c['name']}: no resources.{section}.{r}")


def check_volumes(name, wname, workload, pod_spec, rendered, errors):
    external = EXPECTED.get(name, {}).get("external_secrets", set())
    claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for v in volumes.values():
        if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in rendered:
            errors.append(f"{wname}: ConfigMap {v['configMap']['name']} is not in the kustomization")
        if "secret" in v:
            sname = v["secret"]["secretName"]
            if ("Secret", sname) not in rendered and sname not in external:
                errors.append(f"{wname}: Secret {sname} is neither rendered nor a documented kit Secret")
            if v["secret"].get("defaultMode") != 0o400:
                errors.append(f"{wname}: Secret volume {v['name']} mode is not 0400")
        if "persistentVolumeClaim" in v:
            cname = v["persistentVolumeClaim"]["claimName"]
            if ("PersistentVolumeClaim", cname) not in rendered:
                errors.append(f"{wname}: PVC {cname} is not in the kustomization")
    for c in pod_spec["containers"]:
        refs = [e.get("valueFrom", {}) for e in c.get("env", [])] + c.get("envFrom", [])
        for ref in refs:
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("configMapRef", "ConfigMap"),
                              ("secretKeyRef", "Secret"), ("secretRef", "Secret")):
                if key in ref and (kind, ref[key]["name"]) not in rendered:
                    errors.append(f"{wname}/{c['name']}: env uses {kind} {ref[key]['name']}, "
                                  "which is not in the kustomization")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes and m["name"] not in claims:
                errors.append(f"{wname}/{c['name']}: mounts unknown volume {m['name']}")
            elif m["name"] in volumes and "secret" in volumes[m["name"]] and not m.get("readOnly"):
                errors.append(f"{wname}/{c['name']}: Secret {m['name']} is not mounted readOnly")
    if workload["kind"] == "StatefulSet":
        if workload["spec"].get("replicas") != 1:
            errors.append(f"{wname}: replicas is not 1 (one coordinator per state directory)")
        mounted = {m["name"]: m["mountPath"] for c in pod_spec["containers"]
                   for m in c.get("volumeMounts", [])}
        if not any(mounted.get(claim) == STATE_DIR for claim in claims):
            errors.append(f"{wname}: no volumeClaimTemplate mounted at {STATE_DIR}")


def check_image(wname, pod, c, tag, errors):
    component = pod["metadata"]["labels"].get("app.kubernetes.io/component")
    want = IMAGE_OF_COMPONENT.get(component)
    image = c.get("image", "")
    repo, _, got_tag = image.rpartition(":") if ":" in image else (image, "", "")
    if want is None:
        errors.append(f"{wname}: component label {component} has no known image")
    elif not (repo == want or repo.endswith("/" + want)):
        errors.append(f"{wname}/{c['name']}: image {image}, want {want}")
    if got_tag != tag:
        errors.append(f"{wname}/{c['name']}: image tag {got_tag or '(none)'}, want {tag} "
                      "(the project version, CMakeLists.txt)")


def check_services(objs, errors):
    pods = [(w, p) for w, p in workloads(objs)]
    for s in (o for o in objs if o["kind"] == "Service"):
        sname = s["metadata"]["name"]
        matched = [(w, p) for w, p in pods if selects(s["spec"].get("selector"), p["metadata"]["labels"])]
        if not matched:
            errors.append(f"Service {sname}: selects no pod template's labels")
            continue
        names = set().union(*(port_names(c) for _, p in matched for c in p["spec"]["containers"]))
        for port in s["spec"]["ports"]:
            if port.get("targetPort", port["port"]) not in names:
                errors.append(f"Service {sname}: targetPort {port.get('targetPort')} is not declared")
    for w in (o for o in objs if o["kind"] == "StatefulSet"):
        if ("Service", w["spec"]["serviceName"]) not in {(o["kind"], o["metadata"]["name"]) for o in objs}:
            errors.append(f"StatefulSet {w['metadata']['name']}: serviceName is not a rendered Service")
    for n in (o for o in objs if o["kind"] == "NetworkPolicy"):
        sel = n["spec"]["podSelector"].get("matchLabels")
        matched = [p for _, p in pods if selects(sel, p["metadata"]["labels"])]
        if not matched:
            errors.append(f"NetworkPolicy {n['metadata']['name']}: selects no pods")
            continue
        names = set().union(*(port_names(c) for p in matched for c in p["spec"]["containers"]))
        for rule in n["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if port["port"] not in names:
                    errors.append(f"NetworkPolicy {n['metadata']['name']}: port {port['port']} not declared")


def configmap_file(objs, cm_name, key):
    for o in objs:
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == cm_name:
            return o.get("data", {}).get(key)
    return None


def check_configs(objs, errors):
    for w, pod in workloads(objs):
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in pod["spec"]["containers"]:
            for m in c.get("volumeMounts", []):
                v = volumes.get(m["name"], {})
                if "configMap" not in v or not m.get("subPath", "").endswith(".toml"):
                    continue
                text = configmap_file(objs, v["configMap"]["name"], m["subPath"])
                try:
                    config = tomllib.loads(text or "")
                except tomllib.TOMLDecodeError as e:
                    errors.append(f"{w['metadata']['name']}: {m['subPath']} is not TOML: {e}")
                    continue
                state_dir = config.get("run", {}).get("state_dir", "")
                if state_dir.startswith("/") and not state_dir.startswith(STATE_DIR):
                    errors.append(f"{w['metadata']['name']}: state_dir {state_dir} is outside the volume")
                crl = config.get("security", {}).get("crl_file", "")
                if crl and not crl.startswith("/etc/fedlearn/certs/"):
                    errors.append(f"{w['metadata']['name']}: crl_file {crl} is not in the mounted Secret")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_job(objs, errors):
    for job in (o for o in objs if o["kind"] == "Job"):
        jname = job["metadata"]["name"]
        spec = job["spec"]
        c = spec["template"]["spec"]["containers"][0]
        env = env_of(c)
        if spec.get("completionMode") != "Indexed":
            errors.append(f"Job {jname}: completionMode is not Indexed")
        pools = int(env.get("FEDLEARN_SIM_POOLS") or 0)
        if not pools or spec.get("completions") != pools or spec.get("parallelism") != pools:
            errors.append(f"Job {jname}: completions {spec.get('completions')}, parallelism "
                          f"{spec.get('parallelism')} and FEDLEARN_SIM_POOLS {pools} differ")
        volumes = {v["name"]: v for v in spec["template"]["spec"].get("volumes", [])}
        mount = next((m for m in c.get("volumeMounts", [])
                      if m["mountPath"] == env.get("FEDLEARN_SIM_CONFIG")), None)
        if mount is None or "configMap" not in volumes.get(mount["name"], {}):
            errors.append(f"Job {jname}: FEDLEARN_SIM_CONFIG is not a mounted ConfigMap file")
            continue
        text = configmap_file(objs, volumes[mount["name"]]["configMap"]["name"], mount["subPath"])
        clients = tomllib.loads(text or "").get("simulation", {}).get("clients")
        if str(clients) != env.get("FEDLEARN_SIM_CLIENTS"):
            errors.append(f"Job {jname}: FEDLEARN_SIM_CLIENTS {env.get('FEDLEARN_SIM_CLIENTS')} "
                          f"is not [simulation] clients {clients}")
        coord = [o for o in objs if o["kind"] == "StatefulSet"]
        coord_cfg = None
        for w in coord:
            vols = {v["name"]: v for v in w["spec"]["template"]["spec"]["volumes"]}
            if "config" in vols:
                coord_cfg = vols["config"]["configMap"]["name"]
        if coord_cfg is None or configmap_file(objs, coord_cfg, "coordinator.toml") != text:
            errors.append(f"Job {jname}: the coordinator does not run the pools' sim.toml")
        host, _, port = (env.get("FEDLEARN_COORDINATOR") or "").rpartition(":")
        svc = next((o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == host), None)
        if svc is None or int(port or 0) not in {p["port"] for p in svc["spec"]["ports"]}:
            errors.append(f"Job {jname}: FEDLEARN_COORDINATOR {host}:{port} is no Service port")


def check_objects_of(name, objs, tag):
    errors = []
    rendered = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for w, pod in workloads(objs):
        wname = f"{name}:{w['kind']}/{w['metadata']['name']}"
        spec = pod["spec"]
        check_security(wname, spec, errors)
        check_volumes(name, wname, w, spec, rendered, errors)
        check_annotations(wname, pod, spec["containers"], errors)
        for c in spec["containers"]:
            check_probes(wname, c, errors)
            check_image(wname, pod, c, tag, errors)
    check_services(objs, errors)
    check_configs(objs, errors)
    check_job(objs, errors)
    return errors


def check_docs(src, errors):
    docs = open(os.path.join(src, "docs/operations.md"), encoding="utf-8").read()
    for name, spec in EXPECTED.items():
        kust = open(os.path.join(src, K8S, name, "kustomization.yaml"), encoding="utf-8").read()
        for secret in spec["external_secrets"]:
            for where, text in (("docs/operations.md", docs), (f"{K8S}/{name}/kustomization.yaml", kust)):
                if f"create secret generic {secret}" not in text:
                    errors.append(f"{where}: no `kubectl create secret generic {secret}` for {name}")


def check_image_agrees(src, errors):
    """The pods' uid and metrics port are the image's (deploy/docker/Dockerfile)."""
    text = open(os.path.join(src, "deploy/docker/Dockerfile"), encoding="utf-8").read()
    uid = re.search(r"useradd [^\n]*--uid (\d+)", text)
    if not uid or int(uid.group(1)) != UID:
        errors.append(f"Dockerfile: the fedlearn user's uid is not {UID} (runAsUser)")
    if f"ENV FEDLEARN_METRICS_PORT={METRICS_PORT}" not in text:
        errors.append(f"Dockerfile: FEDLEARN_METRICS_PORT is not {METRICS_PORT} (the pods' metrics port)")


def check_objects(src):
    errors, tag = [], project_version(src)
    check_image_agrees(src, errors)
    for name in kustomizations(src):
        found = check_objects_of(name, load(src, name), tag)
        errors += found
        if not found:
            print(f"{name}: objects consistent")
    check_docs(src, errors)
    return errors


def first(objs, kind):
    return next(o for o in objs if o["kind"] == kind)


def container0(objs, kind):
    return first(objs, kind)["spec"]["template"]["spec"]["containers"][0]


def m_pvc(o):
    first(o, "StatefulSet")["spec"]["volumeClaimTemplates"] = []


def m_probe(o):
    container0(o, "StatefulSet")["readinessProbe"]["httpGet"]["port"] = "http"


def m_selector(o):
    first(o, "Service")["spec"]["selector"] = {"app.kubernetes.io/name": "nothing"}


def m_secret(o):
    for v in first(o, "StatefulSet")["spec"]["template"]["spec"]["volumes"]:
        if "secret" in v:
            v["secret"]["secretName"] = "undocumented"


def m_mode(o):
    for v in first(o, "StatefulSet")["spec"]["template"]["spec"]["volumes"]:
        if "secret" in v:
            v["secret"]["defaultMode"] = 0o644


def m_rootfs(o):
    container0(o, "StatefulSet")["securityContext"]["readOnlyRootFilesystem"] = False


def m_caps(o):
    container0(o, "StatefulSet")["securityContext"]["capabilities"]["drop"] = []


def m_root(o):
    first(o, "StatefulSet")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0


def m_tag(o):
    container0(o, "StatefulSet")["image"] = "fedlearn-coordinator:latest"


def m_annotation(o):
    first(o, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] = "9090"


def m_configmap(o):
    for v in first(o, "StatefulSet")["spec"]["template"]["spec"]["volumes"]:
        if "configMap" in v:
            v["configMap"]["name"] = "not-generated"


def m_pools(o):
    first(o, "Job")["spec"]["completions"] = 99


def m_clients(o):
    for e in container0(o, "Job")["env"]:
        if e["name"] == "FEDLEARN_SIM_CLIENTS":
            e["value"] = "100000"


def m_netpol(o):
    first(o, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] = {"app": "other"}


MUTATIONS = [("coordinator", f) for f in (m_pvc, m_probe, m_selector, m_secret, m_mode,
                                          m_rootfs, m_caps, m_root, m_tag, m_annotation,
                                          m_configmap, m_netpol)] + [
    ("scale-out", m_pools), ("scale-out", m_clients)]


def check_mutations(src):
    errors, tag, cache = [], project_version(src), {}
    for name, mutate in MUTATIONS:
        objs = copy.deepcopy(cache.setdefault(name, load(src, name)))
        mutate(objs)
        found = check_objects_of(name, objs, tag)
        if found:
            print(f"mutation {mutate.__name__}: rejected ({found[0][:100]})")
        else:
            errors.append(f"mutation {mutate.__name__} on {name} passes the object checks")
    return errors


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    src, errors = argv[1], []
    checks = {"render": check_render, "objects": check_objects, "mutations": check_mutations}
    for check in argv[2:]:
        if check not in checks:
            print(f"unknown check {check}")
            return 2
        errors += [f"[{check}] {e}" for e in checks[check](src)]
    for e in errors:
        print("FAIL", e)
    if not errors:
        print("PASS:", " ".join(argv[2:]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
