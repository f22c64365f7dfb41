"""The Pulumi program: stack config -> typed spec -> placement -> price -> resources -> report and exports.

`__main__.py` calls `main()`. Tests and the offline preview run the same `main()` under the SDK's
mock engine (infra/offline/mocks.py), so what they show is what `pulumi preview` registers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pulumi
from pulumi.runtime import config as runtime_config

from cost.errors import InputError
from cost.pricing.fleet import Fleet
from cost.report_model import fleet_document
from infra.config.spec import IMAGE_AND_RUNTIME_GIB, NS, SECRET_KEYS, StackSpec, load, price_book
from infra.placement import Placement, place

if TYPE_CHECKING:
    from cost.pricing.api_prices import PriceBook


class ConfigError(InputError, pulumi.RunError):
    """A bad stack config value. A RunError, so the Pulumi CLI prints the message without a traceback."""


@contextmanager
def config_errors() -> Iterator[None]:
    """The one place a bad stack config value becomes a ConfigError (same key and words): `main` reads, prices and
    checks the config inside it, before any resource is registered."""
    try:
        yield
    except InputError as e:
        raise ConfigError(e.key, e.value, e.allowed, e.detail) from None


def raw_config() -> dict[str, str]:
    """Every config value the engine passed to this program (`ns:key` -> raw string), secrets masked.

    The engine passes config in the PULUMI_CONFIG environment variable (the language host) or, under
    the mock engine, through `pulumi.runtime.set_all_config`; both are read here. Secret values are
    replaced by a marker: the spec only needs to know they are set, and must never hold them.
    """
    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    env_secrets = set(runtime_config.get_config_secret_keys_env())
    out = {}
    for key, value in merged.items():
        short = key.partition(":")[2]
        secret = (runtime_config.is_config_secret(key) or key in env_secrets
                  or (key.startswith(f"{NS}:") and short in SECRET_KEYS))
        out[key] = "[secret]" if secret and value not in (None, "") else value
    return out


def load_spec() -> StackSpec:
    """The validated spec of the running stack; a bad value raises InputError before any resource exists."""
    return load(raw_config(), project=pulumi.get_project(), stack=pulumi.get_stack())


def price(placement: Placement, book: PriceBook | None = None) -> Fleet:
    """The placed stack's fleet cost; InputError where losing a zone leaves too little (survives_a_zone)."""
    from infra import pricing

    fleet = pricing.price(placement, book)
    survives_a_zone(placement, fleet)
    return fleet


def survives_a_zone(placement: Placement, fleet: Fleet) -> None:
    """Production: losing any one zone leaves each model carrying the share of its declared volume the
    stack accepts (1 unless redundancy.acceptZoneLossShare says less); InputError naming the spares."""
    by_name = {e.deployment.name: e for e in fleet.estimates}
    for p in placement.models:
        m = p.model
        e = by_name[m.name]
        share = e.zone_loss_capacity_share
        # An undersized model is reported as such (cost.decide.verdict); here only what the loss of a zone takes away.
        if share + 1e-9 < min(m.accept_zone_loss_share, e.carries_share):
            rpi = p.plan.replicas_per_instance
            raise InputError(f"{m.key}.redundancy.spares", m.spares,
                             f"enough spares that losing the fullest of the {p.zones} zone(s) leaves the replicas that "
                             f"carry the declared volume (more spares, more zones), or redundancy.acceptZoneLossShare "
                             f"{share:.2f} or less to accept it",
                             f"losing a zone leaves {share:.0%} of {m.workload.tokens_per_month:,.0f} tokens/month "
                             f"({p.total_replicas} replicas, {rpi} per {m.instance_type}, over {p.zones} zone(s))")


def bill(fleet: Fleet, platform_items: list) -> dict:
    """The whole monthly bill: the fleet (GPUs, their storage, overheads, API tiers) plus the platform."""
    platform_usd = sum(i.monthly_usd for i in platform_items)
    return {"fleet_monthly_usd": round(fleet.monthly_usd, 2), "platform_monthly_usd": round(platform_usd, 2),
            "monthly_usd": round(fleet.monthly_usd + platform_usd, 2),
            "platform_line_items": [i.to_dict() for i in platform_items]}


def commitment_offers(placement: Placement) -> dict[str, dict]:
    """Model name -> what a commitment would save, for each model whose reserved capacity type names
    none (so it is priced on-demand, as AWS will bill it)."""
    from cost.deployment import RESERVED
    from cost.pricing.nodes import commitment_offer

    return {p.model.name: commitment_offer(p.plan, p.model.capacity_type).to_dict() for p in placement.models
            if p.model.capacity_type in RESERVED and p.deployment.commitment is None}


def commitment_lines(placement: Placement) -> list[str]:
    """The report's commitment lines: what backs each reserved price, or what a commitment would save."""
    spec, out = placement.spec, []
    for m in spec.models:
        c = m.deployment.commitment
        if c is not None:
            out.append(f"  {m.name}: {m.capacity_type} priced at its discount under {c.kind} {c.recorded_in} "
                       f"(${c.hourly_usd:,.2f}/h committed)")
    for name, o in commitment_offers(placement).items():
        out.append(f"  {name}: {o['pricing']} names no commitment, so it is priced on-demand (${o['covers_usd_hr']:,.2f}/h). "
                   f"A {o['pricing']} Savings Plan or Reserved Instances committing ${o['commit_usd_hr']:,.2f}/h (covering "
                   f"${o['covers_usd_hr']:,.2f}/h on-demand) would save ${o['saves_usd_month']:,.2f}/month; name it in "
                   f"{spec.model(name).key}.commitment")
    return ["", "Commitments:", *out] if out else []


def report(placement: Placement, fleet: Fleet, platform_items: list) -> str:
    """The cost report the program logs: the fleet's table, commitments, weights caches, monitoring and the platform bill."""
    from cost import report as cost_report

    spec = placement.spec
    text = (cost_report.render(fleet, "table") + "\n".join(commitment_lines(placement)) + "\n\n"
            + "\n".join([*weights_lines(placement), monitoring_line(spec)]))
    if spec.cluster.existing:
        return f"breakeven cost report, stack {spec.stack}\n\n{text}\n\nPlatform: serving only (existing cluster), not priced."
    rows = [f"  {i.name:<58} {i.quantity:>10,.1f} {i.unit:<14} x ${i.unit_usd:<8g} = ${i.monthly_usd:>10,.2f}"
            for i in platform_items]
    b = bill(fleet, platform_items)
    return (f"breakeven cost report, stack {spec.stack}\n\n{text}\n\nPlatform (everything else the stack creates):\n"
            + "\n".join(rows) + f"\n  {'Platform total':<58} ${b['platform_monthly_usd']:,.2f}/month"
            f"\n\nWhole bill: ${b['monthly_usd']:,.2f}/month (fleet ${b['fleet_monthly_usd']:,.2f} + platform "
            f"${b['platform_monthly_usd']:,.2f})")


def cluster_zones(placement: Placement) -> tuple[list, list]:
    """The cluster's zones by zone ID, checked against AWS's offerings (infra/config/zones.py), and the blockers
    for GPU node groups placed in zones that do not sell their instance type. InputError before any
    resource when a zone does not exist here or cannot take EKS."""
    from infra.config import blockers, zones

    pools: dict[str, list] = {}
    for p in placement.models:
        pools.setdefault(p.model.instance_type, []).extend((p.model.key, z.zones) for z in p.pools)
    cluster = placement.spec.cluster
    found = zones.resolve(cluster, list(pools))
    return found, blockers.zone_offerings(zones.pool_problems(found, pools, cluster.region))


class Blocked(pulumi.RunError):
    """Valid config that a real `pulumi up` cannot serve (infra/config/blockers.py); raised outside preview."""

    def __init__(self, found: list) -> None:
        from infra.config.blockers import refusal

        self.blockers = found
        super().__init__(refusal(found))


def aws_identity() -> tuple[str | None, str | None]:
    """The stack's AWS profile (`aws:profile`) and the role it assumes (the last of `aws:assumeRoles`)."""
    cfg = pulumi.Config("aws")
    roles = cfg.get_object("assumeRoles") or []
    arns = [r.get("roleArn") for r in roles if isinstance(r, dict)] if isinstance(roles, list) else []
    return cfg.get("profile"), (arns[-1] if arns else None)


def multinode_controllers(placement: Placement, provider: pulumi.ProviderResource) -> list[pulumi.Resource]:
    """The LeaderWorkerSet controller (infra/components/lws.py) when a model's replica spans nodes, and the EFA device
    plugin (infra/components/efa.py) when such a replica's instances have EFA; else nothing."""
    if not any(p.plan.instances_per_replica > 1 for p in placement.models):
        return []
    from infra.components.efa import EfaDevicePlugin, efa_interfaces
    from infra.components.lws import LwsController

    opts = pulumi.ResourceOptions(provider=provider)
    out: list[pulumi.Resource] = [LwsController("lws", opts=opts)]
    if any(efa_interfaces(p.plan) for p in placement.models):
        out.append(EfaDevicePlugin("efa", opts=opts))
    return out


def monitoring_deployed(spec: StackSpec) -> bool:
    """Monitoring is deployed exactly when it is priced (breakeven:pricing.overheads.monitoringUsdPerMonth > 0)."""
    return spec.pricing.overheads.monitoring_usd_per_month > 0


def monitoring_output(spec: StackSpec) -> dict:
    """What the `Monitoring` line of the report buys: the pinned Prometheus + Grafana, or nothing."""
    from infra.components import monitoring as mon

    if not monitoring_deployed(spec):
        return {"deployed": False, "priced_usd_per_month": 0.0}
    return {"deployed": True, "priced_usd_per_month": spec.pricing.overheads.monitoring_usd_per_month,
            "chart": mon.MONITORING_CHART, "version": mon.MONITORING_CHART_VERSION, "namespace": mon.MONITORING_NAMESPACE,
            "prometheus": f"http://{mon.MONITORING_FULLNAME}-prometheus.{mon.MONITORING_NAMESPACE}.svc:9090"}


def weights_lines(placement: Placement) -> list[str]:
    """Per model: where its nodes keep the weights, what that costs, and the start a replaced node makes."""
    from cost.physics import weights_source as ws
    from infra.components.weights import model_cache

    out = []
    for p in placement.models:
        m = p.model
        c = model_cache(placement.spec.cluster, p)
        where = {"instance-store": f"instance-store NVMe at {c.path} ({c.capacity_gib:,.0f} GiB, no charge beyond the instance; "
                                   f"the gp3 volume then holds only the image and runtime, {IMAGE_AND_RUNTIME_GIB} GiB, so "
                                   f"storageGibPerNode can drop to that)",
                 "ebs": f"the node's gp3 volume at {c.path} (priced above as Model storage)",
                 "emptyDir": "an emptyDir: every new pod downloads them again"}[c.medium]
        reuse = "a restarted pod on the same node reuses them; " if c.persistent else ""
        window = f"startup window {ws.cold_start_s(p.weights_source, m.weights_gib) / 60:,.0f} min"
        if p.weights_source == "s3":
            seed, seed_src = ws.seed_usd(m.weights_bytes)
            replaced = (f"a replaced node streams {m.weights_gib:,} GiB from the stack's S3 copy through the gateway "
                        f"endpoint (weights.source s3: copy and GETs priced in the platform bill, no NAT), {window} at "
                        f"{ws.s3_seconds_per_gib()} s/GiB (planning figure, cost/data/weights-source.yaml); seeding it "
                        f"once costs ${seed:,.2f} ({seed_src})")
        else:
            replaced = (f"a replaced node downloads {m.weights_gib:,} GiB again through NAT (weights.source huggingface: "
                        f"priced in the platform bill), {window}")
        out.append(f"Weights cache, {m.name}: {c.needed_gib:,} GiB per node in {where}; {reuse}{replaced}. "
                   f"Source: {c.source}.")
    return out


def monitoring_line(spec: StackSpec) -> str:
    """The report's line on what the Monitoring overhead buys."""
    m = monitoring_output(spec)
    if not m["deployed"]:
        return "Monitoring: not priced and not deployed (monitoringUsdPerMonth: 0); bring your own Prometheus."
    return (f"Monitoring: priced ${m['priced_usd_per_month']:,.2f}/month and deployed: kube-prometheus-stack "
            f"{m['version']} in namespace {m['namespace']}, scraping every vLLM pod (PodMonitor) at {m['prometheus']}.")


def s3_weights(placement: Placement, net, eks, tags: dict, aws_provider) -> dict:
    """Model name -> its S3 weights copy (infra/components/weights_s3.py), for the models whose replaced nodes stream them."""
    streamed = tuple(p.model for p in placement.models if p.weights_source == "s3")
    if not streamed:
        return {}
    from infra.components.weights_s3 import WeightsBucket, WeightsBucketArgs

    spec = placement.spec
    c = spec.cluster
    issuer = eks.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
    bucket = WeightsBucket("weights", WeightsBucketArgs(c.name, c.region, spec.namespace, streamed, net.vpc.id,
                                                        net.private_route_table_ids, eks.oidc_provider.arn, issuer, tags),
                           opts=pulumi.ResourceOptions(providers=[aws_provider]))
    return bucket.models


def build(placement: Placement, fleet: Fleet, zone_list: list) -> dict:
    """Register every resource of the placed spec. Returns the stack outputs."""
    import pulumi_aws as aws
    import pulumi_kubernetes as k8s

    from infra import pricing
    from infra.components.efa import efa_interfaces
    from infra.components.serving import Release, Serving, ServingArgs, chart_values, secret_names

    spec = placement.spec
    c = spec.cluster
    cfg = pulumi.Config(NS)
    hf_token = cfg.get_secret("hfToken")
    api_key = cfg.get_secret("vllmApiKey")
    tags = {"breakeven.dev/project": spec.project, "breakeven.dev/stack": spec.stack, "breakeven.dev/cluster": c.name}
    outputs: dict = {}
    node_pools: dict[str, pulumi.Resource] = {}
    weights_s3: dict = {}

    if c.existing is not None:
        provider = k8s.Provider("existing-cluster", kubeconfig=c.existing.kubeconfig, context=c.existing.context,
                                enable_server_side_apply=True)
        outputs["cluster"] = {"existing": True, "context": c.existing.context}
    else:
        from infra.components import weights
        from infra.components.cluster import EksCluster, EksClusterArgs
        from infra.components.network import Network, NetworkArgs
        from infra.components.nodepools import GpuNodePool, GpuNodePoolArgs

        profile, role_arn = aws_identity()
        # An explicit provider reads no `aws:*` stack config: the stack's profile and role are passed on.
        aws_provider = aws.Provider("aws", region=c.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                                    profile=profile,
                                    assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=role_arn)] if role_arn else None)
        aws_opts = pulumi.ResourceOptions(providers=[aws_provider])
        net = Network("network", NetworkArgs(c.name, c.vpc_cidr, c.nat_gateways == "one-per-zone", zone_list, tags),
                      opts=aws_opts)
        outputs["zones"] = {z.slot: {"name": z.name, "zoneId": z.zone_id} for z in zone_list}
        eks = EksCluster("cluster", EksClusterArgs(c, net.private_subnet_ids, net.public_subnet_ids, tags,
                                                   aws_profile=profile, aws_role_arn=role_arn), opts=aws_opts)
        for p in placement.models:
            m = p.model
            node_pools[m.name] = GpuNodePool(f"gpu-{m.name}", GpuNodePoolArgs(
                model_name=m.name, model_id=m.model, pools=p.pools, instance_type=m.instance_type,
                capacity_type=m.capacity_type, eks_capacity_type=m.eks_capacity_type,
                cluster_name=eks.cluster.name, node_role_arn=eks.node_role.arn,
                subnet_by_zone=net.private_subnet_by_zone, ami_type=c.gpu_ami_type, kubernetes_version=c.kubernetes_version,
                root_volume=pricing.gpu_root_volume(spec, p), cluster_label=c.name, tags=tags,
                economics=pricing.economics(spec, p),
                security_group_id=eks.cluster.vpc_config.cluster_security_group_id,
                user_data=weights.user_data(weights.model_cache(c, p)),
                efa_interfaces=efa_interfaces(p.plan), capacity_reservation_id=m.capacity_reservation_id,
                capacity_block=m.capacity_block,
            ), opts=pulumi.ResourceOptions(providers=[aws_provider], depends_on=[eks]))
        weights_s3 = s3_weights(placement, net, eks, tags, aws_provider)
        provider = eks.provider
        outputs["cluster"] = {"name": eks.cluster.name, "endpoint": eks.cluster.endpoint,
                              "oidcProviderArn": eks.oidc_provider.arn}
        outputs["kubeconfig"] = pulumi.Output.secret(eks.kubeconfig)

    controllers = multinode_controllers(placement, provider)
    monitored = monitoring_deployed(spec)
    if monitored:
        from infra.components.monitoring import Monitoring

        controllers.append(Monitoring("monitoring", opts=pulumi.ResourceOptions(provider=provider)))
    secrets = secret_names(hf_token is not None, api_key is not None, spec.production)
    estimates = {e.deployment.name: e for e in fleet.estimates}
    releases = []
    for p in placement.models:
        name, s3 = p.model.name, weights_s3.get(p.model.name)
        releases.append(Release(name, chart_values(spec, p, secrets, estimates.get(name), monitored, s3),
                                node_pools.get(name), p.model if s3 is not None else None, s3))
    Serving("serving", ServingArgs(namespace=spec.namespace, provider=provider, secrets=secrets, hf_token=hf_token,
                                   api_key=api_key, releases=releases, device_plugin=c.device_plugin,
                                   controllers=controllers))
    outputs["monitoring"] = monitoring_output(spec)
    outputs["gpuNodes"] = {p.model.name: {"instanceType": p.model.instance_type, "nodes": p.nodes,
                                          "capacityType": p.model.capacity_type,
                                          "pools": {z.suffix: z.nodes for z in p.pools}} for p in placement.models}
    outputs["cost"] = fleet_document(fleet)
    return outputs


def main() -> None:
    """The whole program: nothing is registered unless the spec is valid and priced, and, outside
    preview, unless nothing blocks it (infra/config/blockers.py)."""
    from infra import pricing
    from infra.config import blockers

    with config_errors():   # read, place, price and check the config; nothing is registered before this ends
        spec = load_spec()
        book = price_book(spec)
        placement = place(spec, book)
        fleet = price(placement, book)
        platform_items = pricing.platform_bill(placement)
        pulumi.log.info(report(placement, fleet, platform_items))
        for warning in placement.warnings():
            pulumi.log.warn(f"breakeven: {warning}")
        if fleet.budget_usd_per_month is not None and fleet.monthly_usd > fleet.budget_usd_per_month:
            pulumi.log.warn(f"breakeven: the stack costs ${fleet.monthly_usd:,.2f}/month, over its budget of "
                            f"${fleet.budget_usd_per_month:,.2f} (breakeven:pricing.budgetUsdPerMonth)")
        found = blockers.find(spec)
        zone_list: list = []
        if spec.cluster.existing is None:
            zone_list, zone_blockers = cluster_zones(placement)
            found += zone_blockers
    if found and not pulumi.runtime.is_dry_run():
        raise Blocked(found)   # before any resource: nothing is billed
    for b in found:
        pulumi.log.warn(f"breakeven: blocker: {b}")
    outputs = build(placement, fleet, zone_list)
    outputs["blockers"] = [b.to_dict() for b in found]
    outputs["commitmentOffers"] = commitment_offers(placement)
    outputs["bill"] = bill(fleet, platform_items)
    for name, value in outputs.items():
        pulumi.export(name, value)
    pulumi.export("spec", json.loads(json.dumps(placement.to_dict())))
