"""Hosted-API prices for the same workload a self-hosted stack serves.

Which APIs a model is compared against is reviewed data (`cost/data/apis.yaml`): the hosted APIs
serving the same open model ("equivalent") and the frontier APIs every model is compared against
("quality"). Their prices come from the pinned `genai-prices` package (offline snapshot), asked
for the price of one *average request* — tiered prices depend on the request's size (e.g. prompts
over 200K tokens) — and scaled by requests per month. A price book (`cost/data/pricebooks/*.yaml`
or any YAML path) can replace that list or override any API price with flat rates, and carries
GPU hourly prices for the TCO side.

Speed: genai-prices lookups are resolved once per API, and request prices are cached per
(API, input tokens, output tokens), so quoting every API of a model costs microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from genai_prices import Usage, calc_price
from genai_prices import __version__ as GENAI_PRICES_VERSION

from cost import catalog
from cost.catalog import strictload
from cost.errors import InputError
from cost.workload import Workload

__all__ = [
    "ApiOffer", "ApiQuote", "PriceBook", "TIERS", "APIS_MODES", "BOOK_PRICINGS",
    "load_price_book", "shipped_price_books", "offers_for", "offer", "price_request", "quote", "quotes_for",
    "coverage_note", "comparables", "retired", "in_account_providers", "models_served", "quality_offers",
    "HOSTING_TIERS", "EXEMPTION_NEEDS",
]

TIERS = ("equivalent", "quality", "custom-model", "dedicated")
HOSTING_TIERS = ("custom-model", "dedicated")   # host YOUR weights (or code): compared only under an exemption
LEGACY_TIERS = {"custom-hosting": "custom-model"}   # the tier's name before dedicated hosting was priced
# What an alternative must serve for each exemption that narrows the comparison by capability (private
# data narrows it by where the provider runs instead; see `comparables`).
EXEMPTION_NEEDS = {"fine-tuned": "your fine-tuned weights", "custom-inference": "your own inference code",
                   "low-ttft": "a time to first token under 50 ms (no hosted API does: the network round trip alone "
                               "adds 50-200 ms)"}
APIS_MODES = ("replace", "override")
BOOK_PRICINGS = catalog.PRICINGS
PRICEBOOKS = catalog.DATA / "pricebooks"
_TIER_ORDER = {tier: i for i, tier in enumerate(TIERS)}
_REQUEST_CACHE_MAX = 200_000


@dataclass(frozen=True)
class ApiOffer:
    """One hosted API a model's workload can be priced on.

    id: `provider:model_ref`. provider / model_ref: what genai-prices resolves (informational for
    price-book offers). tier: "equivalent" (same open model), "quality" (frontier API), "custom-model"
    (hosting of your weights, per token or per model copy) or "dedicated" (per-GPU-hour deployments of your
    weights). source: where the price comes from.
    input/output_usd_per_mtok: flat rates (price-book offers); None means genai-prices prices it (or, for
    cost/pricing/hosting.py's offers, the capacity model prices it per GPU-hour).
    serves: the exemptions (`EXEMPTION_NEEDS`) it can serve; includes: what it runs for you (the part of
    the self-hosted bill it removes); minimum: what it bills at least.
    """

    id: str
    label: str
    provider: str
    model_ref: str
    tier: str
    source: str
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    serves: tuple[str, ...] = ()
    includes: str = ""
    minimum: str = ""

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise InputError("tier", self.tier, ", ".join(TIERS), f"API {self.id}")
        rates = (self.input_usd_per_mtok, self.output_usd_per_mtok)
        if (rates[0] is None) != (rates[1] is None):
            raise InputError("output_usd_per_mtok" if rates[1] is None else "input_usd_per_mtok", None,
                             "both flat rates, or neither (genai-prices prices the API)", f"API {self.id}")
        for key, rate in zip(("input_usd_per_mtok", "output_usd_per_mtok"), rates, strict=True):
            if rate is not None and not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate >= 0):
                raise InputError(key, rate, "a non-negative USD price per 1M tokens", f"API {self.id}")

    @property
    def flat(self) -> bool:
        """True when the offer carries its own flat rates (a price-book offer)."""
        return self.input_usd_per_mtok is not None


@dataclass(frozen=True)
class ApiQuote:
    """A workload priced on one API: one average request, then the month."""

    offer: ApiOffer
    request_usd: float          # one average request
    requests_per_month: float
    monthly_usd: float
    usd_per_mtok: float         # blended over input+output at this request size
    batch_price: bool = False   # the provider's published batch rate (genai-prices `processing: batch`) applied
    basis: str = ""             # how a per-GPU-hour or per-copy offer was sized (replicas x GPUs x hours x rate)
    batch_source: str = ""      # where the batch rate applied comes from ("" when none is)


@dataclass(frozen=True)
class PriceBook:
    """A named set of price overrides: API offers with flat rates and GPU hourly prices.

    apis_mode: "replace" (the book's APIs are the whole list) or "override" (entries with an
    existing id replace that API's price; new ids extend the list).
    gpus: {gpu_id: {pricing: (usd_per_gpu_hour, source)}}.
    applies_to: {offer id: model ids} for offers limited to some models; an offer absent from it
    applies to every model (quality offers).
    """

    name: str
    source: str
    apis_mode: str
    apis: tuple[ApiOffer, ...]
    gpus: dict
    applies_to: dict = field(default_factory=dict)
    path: str = ""
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.name, self.path, self.apis))

    def gpu_hourly(self, gpu_id: str, pricing: str) -> tuple[float, str] | None:
        """The book's USD per GPU-hour and its source for a GPU and pricing, or None if it has none."""
        prices = self.gpus.get(gpu_id)
        if prices is None:
            wanted = str(gpu_id).lower()
            prices = next((p for g, p in self.gpus.items() if g.lower() == wanted), None)
        return None if prices is None else prices.get(pricing)


# --------------------------------------------------------------------------------------------
# The reviewed API list (cost/data/apis.yaml), priced by genai-prices.

@cache
def _priced_at() -> datetime:
    """The moment genai-prices' date-dependent prices are taken at: the first use in this process."""
    return datetime.now(UTC)


def _genai_source() -> str:
    return f"genai-prices {GENAI_PRICES_VERSION} (offline snapshot), prices in effect {_priced_at():%Y-%m-%d}"


@dataclass(frozen=True)
class _ApiList:
    quality: tuple[ApiOffer, ...]
    equivalents: dict[str, tuple[ApiOffer, ...]]
    notes: dict[str, str]
    by_id: dict[str, ApiOffer]
    models_of: dict[str, tuple[str, ...]]   # equivalent offer id -> model ids it serves
    custom_hosting: dict[str, tuple[ApiOffer, ...]]   # model id -> offers serving fine-tuned weights
    retired: dict[str, str]                 # offer id -> "retired <date>: <source>"
    in_account: dict[str, str]              # provider id -> why its API stays in your cloud account


def _api_entry(entry: Any, key: str, tier: str, source: str) -> ApiOffer:
    if not isinstance(entry, dict):
        raise InputError(key, entry, "a mapping with id, label, provider, model_ref, tier")
    for name in ("id", "label", "provider", "model_ref", "tier"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise InputError(f"{key}.{name}", entry.get(name), "a non-empty string")
    if entry["id"] != f"{entry['provider']}:{entry['model_ref']}":
        raise InputError(f"{key}.id", entry["id"], f"{entry['provider']}:{entry['model_ref']} (provider:model_ref)")
    if entry["tier"] != tier:
        raise InputError(f"{key}.tier", entry["tier"], tier)
    return ApiOffer(entry["id"], entry["label"], entry["provider"], entry["model_ref"], tier, source)


@cache
def _api_list() -> _ApiList:
    """Load and check cost/data/apis.yaml (once)."""
    with open(catalog.DATA / "apis.yaml", encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    source = _genai_source()
    quality = tuple(_api_entry(e, f"apis.yaml: quality[{i}]", "quality", source)
                    for i, e in enumerate(doc.get("quality") or []))
    equivalents: dict[str, tuple[ApiOffer, ...]] = {}
    notes: dict[str, str] = {}
    models_of: dict[str, list[str]] = {}
    for model_id, spec in (doc.get("equivalents") or {}).items():
        spec = spec or {}
        offers = tuple(_api_entry(e, f"apis.yaml: equivalents.{model_id}.apis[{i}]", "equivalent", source)
                       for i, e in enumerate(spec.get("apis") or []))
        equivalents[model_id] = offers
        if spec.get("note"):
            notes[model_id] = " ".join(str(spec["note"]).split())
        for offer in offers:
            models_of.setdefault(offer.id, []).append(model_id)
    custom: dict[str, tuple[ApiOffer, ...]] = {}
    for model_id, entries in (doc.get("custom_hosting") or {}).items():
        hosted: list[ApiOffer] = []
        for i, e in enumerate(entries or []):
            key = f"apis.yaml: custom_hosting.{model_id}[{i}]"
            base = _api_entry({k: e.get(k) for k in ("id", "label", "provider", "model_ref", "tier")}, key, "custom-model", "")
            hosted.append(ApiOffer(base.id, base.label, base.provider, base.model_ref, "custom-model",
                                   str(e.get("source") or ""), e.get("input_usd_per_mtok"), e.get("output_usd_per_mtok"),
                                   serves=("fine-tuned",), includes=str(e.get("includes") or "")))
        custom[catalog.model(model_id, f"apis.yaml: custom_hosting.{model_id}").id] = tuple(hosted)
    retired = {str(k): f"retired {v['date']}: {v['source']}" for k, v in (doc.get("retired") or {}).items()}
    in_account = {str(k): f"{v['label']}: {v['source']}" for k, v in (doc.get("in_account") or {}).items()}
    by_id: dict[str, ApiOffer] = {}
    for offer in quality + tuple(o for offers in equivalents.values() for o in offers) + tuple(o for v in custom.values() for o in v):
        by_id.setdefault(offer.id, offer)
    return _ApiList(quality, equivalents, notes, by_id, {k: tuple(v) for k, v in models_of.items()}, custom, retired,
                    in_account)


def models_served(api_id: str, book: PriceBook | None = None) -> tuple[str, ...]:
    """The catalog models an equivalent API serves (the price book's `models`, else apis.yaml)."""
    if book is not None and api_id in book.applies_to:
        return tuple(book.applies_to[api_id])
    return _api_list().models_of.get(api_id) or _default_hosts().applies_to.get(api_id, ())


def quality_offers(book: PriceBook | None = None) -> list[ApiOffer]:
    """The frontier (quality-class) APIs every model is compared with."""
    return [o for o in _offers(next(iter(catalog.models())), book, False) if o.tier == "quality"]


def retired(offer_id: str) -> str | None:
    """Why an offer can no longer be bought (retired/deprecated, with date and source), or None."""
    return _api_list().retired.get(offer_id)


def provider_ids(book: PriceBook | None = None) -> list[str]:
    """Every provider an API offer of the list names (apis.yaml, extended or replaced by the price book)."""
    listed = () if book is not None and book.apis_mode == "replace" else tuple(_api_list().by_id.values())
    return sorted({o.provider for o in listed + (book.apis if book else ())})


def in_account_providers() -> dict[str, str]:
    """Providers whose API runs inside your own cloud account, with the source saying so."""
    return dict(_api_list().in_account)


def comparables(quotes: list[ApiQuote], exemptions: list[str],
                providers: tuple[str, ...] | None = None) -> tuple[list[ApiQuote], str]:
    """The quotes a self-hosted deployment is compared with, and what they are.

    No exemption: the APIs serving the same model (the quality class when none does); hosting of your own
    weights (tiers custom-model, dedicated) is left out. Fine-tuned weights, custom inference or a TTFT
    under 50 ms: only offers that serve every one of them (`ApiOffer.serves`: per-token hosting of your
    weights, dedicated per-GPU-hour deployments, custom-model import; nothing answers within 50 ms).
    Private data: only APIs inside your own cloud account (e.g. Bedrock) or from the `providers`
    allow-list. `providers` also restricts every other case. Retired offers never count.
    """
    gone = _api_list().retired   # retired(), read once for the list
    live = [q for q in quotes if gone.get(q.offer.id) is None]
    if providers is not None:
        live = [q for q in live if q.offer.provider in providers]
    what = []
    needs = [e for e in exemptions if e in EXEMPTION_NEEDS]
    if needs:
        live = [q for q in live if all(e in q.offer.serves for e in needs)]
        what.append("offers that serve " + " and ".join(EXEMPTION_NEEDS[e] for e in needs))
    else:
        live = [q for q in live if q.offer.tier not in HOSTING_TIERS]
    if "private-data" in exemptions:
        allowed = set(_api_list().in_account) | set(providers or ())
        live = [q for q in live if q.offer.provider in allowed]
        what.append("APIs inside your own cloud account" + (" or allowed by --providers" if providers else ""))
    if not what:
        same = [q for q in live if q.offer.tier == "equivalent"]
        if same:
            return same, "equivalent APIs" + (" from the allowed providers" if providers else "")
        return [q for q in live if q.offer.tier == "quality"], "quality-class APIs (no API serves this model)"
    return live, " and ".join(what)


def coverage_note(model_id: str) -> str | None:
    """The reviewed note on a model's equivalent APIs (e.g. a host genai-prices lacks), if any."""
    return _api_list().notes.get(_canonical(model_id))


# --------------------------------------------------------------------------------------------
# Pricing one request.

_MODEL_PRICES: dict[tuple[str, str, bool], Any] = {}
_REQUEST_CACHE: dict[tuple[str, str, int, int, bool, int], float] = {}
BATCH_CONTEXT = {"processing": "batch"}   # genai-prices' price variant for a provider's batch API


def _model_price(provider: str, model_ref: str, batch: bool = False) -> Any:
    """genai-prices' resolved price for an API (its batch variant if asked and published), looked up once."""
    key = (provider, model_ref, batch)
    found = _MODEL_PRICES.get(key)
    if found is None:
        try:
            calc = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model_ref, provider_id=provider,
                              genai_request_timestamp=_priced_at(), price_context=BATCH_CONTEXT if batch else None)
        except LookupError as exc:
            raise InputError("api", f"{provider}:{model_ref}",
                             f"a provider id and model ref that genai-prices {GENAI_PRICES_VERSION} resolves",
                             str(exc)) from None
        found = _MODEL_PRICES[key] = calc.model_price
    return found


def price_request(offer: ApiOffer, input_tokens: int, output_tokens: int, batch: bool = False,
                  cached_input_tokens: int = 0) -> float:
    """USD for one request of this size: flat rates if the offer has them, else genai-prices (at the
    provider's batch rate when `batch` and it publishes one).

    cached_input_tokens: the part of the input the provider serves from its prompt cache, billed at
    genai-prices' cache-read price where the API has one (else as input); flat price-book rates have
    no cached rate and bill it as input.
    """
    if offer.input_usd_per_mtok is not None:
        if input_tokens < 0 or output_tokens < 0:
            raise InputError("tokens", (input_tokens, output_tokens), "non-negative token counts")
        assert offer.output_usd_per_mtok is not None   # flat rates come in pairs (ApiOffer.__post_init__)
        return (input_tokens * offer.input_usd_per_mtok + output_tokens * offer.output_usd_per_mtok) / 1e6
    key = (offer.provider, offer.model_ref, input_tokens, output_tokens, batch, cached_input_tokens)
    usd = _REQUEST_CACHE.get(key)
    if usd is None:
        if input_tokens < 0 or output_tokens < 0 or int(input_tokens) != input_tokens or int(output_tokens) != output_tokens:
            raise InputError("tokens", (input_tokens, output_tokens), "whole, non-negative token counts")
        model_price = _model_price(offer.provider, offer.model_ref, batch)
        usage = Usage(input_tokens=int(input_tokens), output_tokens=int(output_tokens),
                      cache_read_tokens=int(cached_input_tokens) or None)
        usd = float(model_price.calc_price(usage)["total_price"])
        if len(_REQUEST_CACHE) >= _REQUEST_CACHE_MAX:
            _REQUEST_CACHE.clear()
        _REQUEST_CACHE[key] = usd
    return usd


def quote(offer: ApiOffer, workload: Workload) -> ApiQuote:
    """The workload priced on one API: its average request, times requests per month."""
    tokens_in, tokens_out = workload.avg_input_tokens, workload.avg_output_tokens
    request_usd, batch = _request_usd(offer, workload)
    requests = workload.tokens_per_month / (tokens_in + tokens_out)
    return ApiQuote(offer, request_usd, requests, request_usd * requests, request_usd * 1e6 / (tokens_in + tokens_out),
                    bool(batch), batch_source=batch)


GENAI_BATCH_SOURCE = "the provider's batch rate (genai-prices price variant processing=batch)"


def _request_usd(offer: ApiOffer, workload: Workload) -> tuple[float, str]:
    """One average request's price, and the source of the batch rate applied ("" when on-line prices).

    A batch workload pays genai-prices' batch variant where it has one, else the provider's published
    batch share from cost/data/batch-rates.yaml (open-model hosts genai-prices carries no variant for)."""
    cached = round(workload.avg_input_tokens * workload.prefix_cache_hit_rate)
    usd = price_request(offer, workload.avg_input_tokens, workload.avg_output_tokens, cached_input_tokens=cached)
    if workload.batch and not offer.flat:
        batch = price_request(offer, workload.avg_input_tokens, workload.avg_output_tokens, batch=True,
                              cached_input_tokens=cached)
        if batch < usd:
            return batch, GENAI_BATCH_SOURCE
        share = batch_share(offer)
        if share is not None:
            return usd * share[0], share[1]
    return usd, ""


@cache
def _batch_rates() -> dict[str, tuple[float, tuple[str, ...] | None, str]]:
    """cost/data/batch-rates.yaml: provider -> (share of the on-line price, offer ids or None for all, source)."""
    with open(catalog.DATA / "batch-rates.yaml", encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    out = {}
    for provider, spec in (doc.get("providers") or {}).items():
        key = f"batch-rates.yaml: providers.{provider}"
        share = (spec or {}).get("share_of_online")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise InputError(f"{key}.share_of_online", share, "a share of the on-line price, above 0 and at most 1")
        offers = spec.get("offers")
        if offers is not None and (not isinstance(offers, list) or not all(o in _api_list().by_id for o in offers)):
            raise InputError(f"{key}.offers", offers, "a list of offer ids from cost/data/apis.yaml")
        source = _text(spec.get("source"), f"{key}.source", "in cost/data/batch-rates.yaml")
        out[str(provider)] = (float(share), None if offers is None else tuple(offers), " ".join(source.split()))
    return out


def batch_share(offer: ApiOffer) -> tuple[float, str] | None:
    """The provider's published batch share of the on-line price for this offer and its source, or None."""
    found = _batch_rates().get(offer.provider)
    if found is None or (found[1] is not None and offer.id not in found[1]):
        return None
    return found[0], f"the provider's batch rate, {found[0]:.0%} of its on-line price: {found[2]}"


# --------------------------------------------------------------------------------------------
# Which offers a model is compared against.

_CANONICAL: dict[str, str] = {}
_DEFAULT_MEMO: dict[tuple[str, bool], tuple[ApiOffer, ...]] = {}


def _canonical(model_id: str) -> str:
    """breakeven model id for an id, alias or Hugging Face name (InputError `model` if unknown)."""
    found = _CANONICAL.get(model_id)
    if found is None:
        found = _CANONICAL[model_id] = catalog.model(model_id).id
    return found


DEFAULT_HOSTS_BOOK = "open-hosts-2026"   # open-model hosts genai-prices lacks (DeepInfra, ...): in the default set


def _default_hosts() -> PriceBook:
    """The shipped book of open-model hosts genai-prices does not carry, compared by default."""
    book = load_price_book(DEFAULT_HOSTS_BOOK)
    assert book is not None   # a shipped name always loads (or raises InputError)
    return book


def _default_offers(model_id: str) -> tuple[ApiOffer, ...]:
    apis, hosts = _api_list(), _default_hosts()
    extra = tuple(o for o in hosts.apis if o.tier == "equivalent" and _applies(hosts, o, model_id))
    return apis.equivalents.get(model_id, ()) + extra + apis.quality + apis.custom_hosting.get(model_id, ())


def _applies(book: PriceBook, offer: ApiOffer, model_id: str) -> bool:
    models = book.applies_to.get(offer.id)
    return models is None or model_id in models


def _offers(model_id: str, book: PriceBook | None, include_custom_hosting: bool) -> tuple[ApiOffer, ...]:
    mid = _canonical(model_id)
    memo = _DEFAULT_MEMO if book is None else book._memo
    key = (mid, include_custom_hosting)
    found = memo.get(key)
    if found is not None:
        return found
    if book is None:
        offers = list(_default_offers(mid))
    elif book.apis_mode == "replace":
        offers = [o for o in book.apis if _applies(book, o, mid)]
    else:
        base = _default_offers(mid)
        replaced = {o.id: o for o in book.apis}
        base_ids = {o.id for o in base}
        offers = [replaced.get(o.id, o) for o in base]
        offers += [o for o in book.apis if o.id not in base_ids and _applies(book, o, mid)]
    if not include_custom_hosting:
        offers = [o for o in offers if o.tier not in HOSTING_TIERS]
    offers.sort(key=lambda o: _TIER_ORDER[o.tier])
    found = memo[key] = tuple(offers)
    return found


def offers_for(model_id: str, book: PriceBook | None = None, *, include_custom_hosting: bool = False) -> list[ApiOffer]:
    """The APIs a model is compared against: equivalents, then quality (then per-token hosting of your
    weights, tier custom-model, if asked)."""
    return list(_offers(model_id, book, include_custom_hosting))


def offer(api_id: str, book: PriceBook | None = None) -> ApiOffer:
    """One API by id (e.g. for a routing tier): the price book's offer if it has that id, else the
    reviewed genai-prices list's (also under a replacing book). InputError `api` if neither has it."""
    if book is not None:
        for o in book.apis:
            if o.id == api_id:
                return o
    found = _api_list().by_id.get(api_id) or next((o for o in _default_hosts().apis if o.id == api_id), None)
    if found is None:
        known = ([o.id for o in book.apis] if book is not None else []) + list(_api_list().by_id)
        raise InputError("api", api_id, ", ".join(dict.fromkeys(known)),
                         "an API id (provider:model_ref) from cost/data/apis.yaml or the price book")
    return found


def quotes_for(model_id: str, workload: Workload, book: PriceBook | None = None, *,
               include_custom_hosting: bool = False) -> list[ApiQuote]:
    """The workload priced on every API the model is compared against, in `offers_for` order."""
    return list(_quotes(model_id, workload, book, include_custom_hosting))


@lru_cache(maxsize=4096)
def _quotes(model_id: str, workload: Workload, book: PriceBook | None, include_custom_hosting: bool) -> tuple[ApiQuote, ...]:
    """quotes_for's quotes, kept for the process: a pure function of its (immutable, hashable) arguments, priced
    again by every estimate of an optimizer's search over the same workload. The offers and prices they read are
    read once per process (`_offers`, `_priced_at`)."""
    offers = _offers(model_id, book, include_custom_hosting)
    tokens_in, tokens_out = workload.avg_input_tokens, workload.avg_output_tokens
    per_request = tokens_in + tokens_out
    requests = workload.tokens_per_month / per_request
    per_mtok = 1e6 / per_request
    out = []
    for offer in offers:
        usd, batch = _request_usd(offer, workload)
        out.append(ApiQuote(offer, usd, requests, usd * requests, usd * per_mtok, bool(batch), batch_source=batch))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Price books.

_BOOK_KEYS = ("name", "source", "checked", "apis_mode", "apis", "gpus")
_API_KEYS = ("id", "label", "provider", "model_ref", "tier", "input_usd_per_mtok", "output_usd_per_mtok",
             "blended_usd_per_mtok", "models", "source", "note")
_RATE_ALLOWED = "a non-negative USD price per 1M tokens"


def shipped_price_books() -> list[str]:
    """Names of the price books shipped in cost/data/pricebooks/."""
    return sorted(p.stem for p in PRICEBOOKS.glob("*.yaml"))


def load_price_book(name_or_path: str | Path | None) -> PriceBook | None:
    """Load a price book by shipped name (`seed-2025`) or YAML path; None gives None.

    A bad name, file or entry raises InputError naming the key (e.g. `price_book.apis[2].input_usd_per_mtok`),
    the value and what is allowed.
    """
    if name_or_path is None:
        return None
    if isinstance(name_or_path, PriceBook):
        return name_or_path
    text = str(name_or_path)
    shipped = PRICEBOOKS / f"{text}.yaml"
    if text and "/" not in text and "\\" not in text and shipped.is_file():
        path = shipped
    else:
        path = Path(text).expanduser()
        if not text or not path.is_file():
            raise InputError("price_book", name_or_path,
                             f"a shipped price book ({', '.join(shipped_price_books())}) or the path of a price book YAML file")
    path = path.resolve()
    return _load_book(str(path), path.stat().st_mtime_ns)


@cache
def _load_book(path: str, _mtime_ns: int) -> PriceBook:
    return _parse_book(strictload.load_yaml(path, "price_book", "price book YAML file"), path)


def _rate(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(key, value, _RATE_ALLOWED, where)
    return float(value)


def _text(value: Any, key: str, where: str, allowed: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(key, value, allowed, where)
    return value.strip()


def _parse_book(doc: Any, path: str) -> PriceBook:
    where = f"in {path}"
    if not isinstance(doc, dict):
        raise InputError("price_book", path, "a YAML mapping with name, source, apis_mode, apis, gpus", where)
    for key in doc:
        if key not in _BOOK_KEYS:
            raise InputError(f"price_book.{key}", doc[key], f"one of the keys {', '.join(_BOOK_KEYS)}", where)
    name = _text(doc.get("name", Path(path).stem), "price_book.name", where)
    source = _text(doc.get("source"), "price_book.source", where, "a non-empty string naming where the prices come from")
    raw_apis = doc.get("apis") or []
    mode = doc.get("apis_mode", "override" if "apis" not in doc else None)
    if mode not in APIS_MODES:
        raise InputError("price_book.apis_mode", mode, " or ".join(APIS_MODES), where)
    if not isinstance(raw_apis, list):
        raise InputError("price_book.apis", raw_apis, "a list of API entries", where)

    apis: list[ApiOffer] = []
    applies_to: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(raw_apis):
        offer, models = _parse_book_api(entry, f"price_book.apis[{i}]", name, source, mode, where)
        if any(o.id == offer.id for o in apis):
            raise InputError(f"price_book.apis[{i}].id", offer.id, "an id not already used in this price book", where)
        apis.append(offer)
        if models is not None:
            applies_to[offer.id] = models

    gpus = _parse_book_gpus(doc.get("gpus") or {}, source, where)
    return PriceBook(name, source, mode, tuple(apis), gpus, applies_to, path)


def _parse_book_api(entry: Any, key: str, book_name: str, book_source: str, mode: str,
                    where: str) -> tuple[ApiOffer, tuple[str, ...] | None]:
    if not isinstance(entry, dict):
        raise InputError(key, entry, "a mapping with id, tier, rates and source", where)
    for k in entry:
        if k not in _API_KEYS:
            raise InputError(f"{key}.{k}", entry[k], f"one of the keys {', '.join(_API_KEYS)}", where)
    offer_id = _text(entry.get("id"), f"{key}.id", where, "provider:model_ref")
    provider, sep, model_ref = offer_id.partition(":")
    if not sep or not provider or not model_ref:
        raise InputError(f"{key}.id", offer_id, "provider:model_ref", where)
    for k, derived in (("provider", provider), ("model_ref", model_ref)):
        if k in entry and entry[k] != derived:
            raise InputError(f"{key}.{k}", entry[k], f"{derived!r} (as in the id {offer_id})", where)
    base = _api_list().by_id.get(offer_id) if mode == "override" else None

    tier = entry.get("tier", base.tier if base else None)
    tier = LEGACY_TIERS.get(tier, tier) if isinstance(tier, str) else tier
    if tier not in TIERS:
        raise InputError(f"{key}.tier", tier, ", ".join(TIERS), where)
    label = _text(entry.get("label", base.label if base else offer_id), f"{key}.label", where)

    if "blended_usd_per_mtok" in entry:
        for k in ("input_usd_per_mtok", "output_usd_per_mtok"):
            if k in entry:
                raise InputError(f"{key}.{k}", entry[k], "left out when blended_usd_per_mtok is given", where)
        rate_in = rate_out = _rate(entry["blended_usd_per_mtok"], f"{key}.blended_usd_per_mtok", where)
    else:
        for k in ("input_usd_per_mtok", "output_usd_per_mtok"):
            if k not in entry:
                raise InputError(f"{key}.{k}", None, f"{_RATE_ALLOWED} (or blended_usd_per_mtok for both)", where)
        rate_in = _rate(entry["input_usd_per_mtok"], f"{key}.input_usd_per_mtok", where)
        rate_out = _rate(entry["output_usd_per_mtok"], f"{key}.output_usd_per_mtok", where)

    models: tuple[str, ...] | None = None
    if "models" in entry:
        raw = entry["models"]
        if not isinstance(raw, list) or not raw:
            raise InputError(f"{key}.models", raw, "a non-empty list of model ids", where)
        models = tuple(dict.fromkeys(catalog.model(m, key=f"{key}.models[{j}]").id for j, m in enumerate(raw)))
    elif base is not None and base.tier == "equivalent":
        models = _api_list().models_of.get(offer_id)
    elif tier != "quality":
        raise InputError(f"{key}.models", None, "the list of model ids this API serves (required unless tier is quality)", where)

    entry_source = entry.get("source", book_source)
    entry_source = _text(entry_source, f"{key}.source", where)
    offer = ApiOffer(offer_id, label, provider, model_ref, tier, f"price book {book_name}: {entry_source}",
                     rate_in, rate_out, serves=("fine-tuned",) if tier in HOSTING_TIERS else ())
    return offer, models


def _parse_book_gpus(raw: Any, book_source: str, where: str) -> dict:
    if not isinstance(raw, dict):
        raise InputError("price_book.gpus", raw, "a mapping {GPU id: {pricing: usd_per_gpu_hour}}", where)
    gpus: dict[str, dict[str, tuple[float, str]]] = {}
    for gpu_name, prices in raw.items():
        gkey = f"price_book.gpus.{gpu_name}"
        gpu_id = catalog.gpu(gpu_name, key=gkey).id
        if gpu_id in gpus:      # `H100` and `h100`: one GPU written twice, the last would win
            raise InputError(gkey, gpu_name, f"each GPU once (another key already names {gpu_id})", where)
        if not isinstance(prices, dict) or not prices:
            raise InputError(gkey, prices, f"a mapping {{pricing: usd_per_gpu_hour}}, pricing one of {', '.join(BOOK_PRICINGS)}", where)
        gpu_source = prices.get("source", book_source)
        out = gpus[gpu_id] = {}
        for pricing, value in prices.items():
            if pricing == "source":
                continue
            pkey = f"{gkey}.{pricing}"
            if pricing not in BOOK_PRICINGS:
                raise InputError(pkey, pricing, ", ".join(BOOK_PRICINGS) + " (or source)", where)
            src = gpu_source
            if isinstance(value, dict):
                for k in value:
                    if k not in ("usd_per_gpu_hour", "source"):
                        raise InputError(f"{pkey}.{k}", value[k], "usd_per_gpu_hour, source", where)
                src = value.get("source", gpu_source)
                pkey, value = f"{pkey}.usd_per_gpu_hour", value.get("usd_per_gpu_hour")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(pkey, value, "a positive USD price per GPU-hour", where)
            out[pricing] = (float(value), _text(src, f"{gkey}.{pricing}.source", where))
    return gpus
