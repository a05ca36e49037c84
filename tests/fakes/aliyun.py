"""A fake Alibaba Cloud SMS (dysmsapi 2017-05-25): SendSms, SendBatchSms and QuerySendDetails as the
official SDK calls them (ACS3-HMAC-SHA256 checked), the real error bodies, scriptable faults, and the
SmsUp / SmsReport batch pushes fired at nongbot's callback URL.

Run by hand to watch a full round trip on one machine:
    python -m tests.fakes.aliyun --nongbot http://127.0.0.1:8080 --port 8098
then start nongbot with the line it prints and type texts as a villager would.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import hmac
import itertools
import json
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from tests.fakes import run_by_hand

ACCESS_KEY_ID = "test-ak"
ACCESS_KEY_SECRET = "test-secret"
SIGN_NAME = "郧西农技通"
CALLBACK_SECRET = "cb-" + "7" * 40
CHINA = timezone(timedelta(hours=8))
TEMPLATES = {
    "SMS_900000001": "农技答复：${p1} ${p2} ${p3} ${p4} ${p5} ${p6}",
    "SMS_900000002": "农技提示：${p1} ${p2} ${p3} ${p4}。拒收请回复R",
    "SMS_900000003": "通知：${p1} ${p2} ${p3} ${p4}",
}
MAX_NUMBERS = {"SendSms": 1000, "SendBatchSms": 100}
MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")


def canonical_request(method: str, query: dict[str, str], headers: dict[str, str], signed: list[str],
                      body_hash: str) -> str:
    """ACS3 canonical request (china-sms.md §3.3), written independently of the SDK's signer."""
    def enc(text: str) -> str:
        return quote(text, safe="~")

    canon_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items()))
    canon_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    return f"{method}\n/\n{canon_query}\n{canon_headers}\n{';'.join(signed)}\n{body_hash}"


def acs3_signature(secret: str, canonical: str) -> str:
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Sent:
    biz_id: str
    phone: str  # 11 digits, as the provider reports it
    template: str
    params: dict[str, str]
    sign: str
    out_id: str
    at: datetime
    content: str
    status: int = 1  # QuerySendDetails SendStatus: 1 waiting, 2 failed, 3 delivered
    err_code: str = ""


@dataclass
class FakeAliyun:
    """`faults` is consumed one per SendSms/SendBatchSms request: a Code ("isv.BUSINESS_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR", …) answered inside HTTP 200; "500" (HTTP 500, nothing sent); "timeout" (hang,
    nothing sent); "slow-accept" (sent, then hang: the caller never hears)."""

    access_key_id: str = ACCESS_KEY_ID
    access_key_secret: str = ACCESS_KEY_SECRET
    sign_names: set[str] = field(default_factory=lambda: {SIGN_NAME})
    templates: dict[str, str] = field(default_factory=lambda: dict(TEMPLATES))
    daily_limit: int = 50
    sent: list[Sent] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)  # actions, in order
    hang_seconds: float = 30.0
    _seq: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.api)
        return app

    # --- the API ------------------------------------------------------------------------------

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                            content_type="application/json", charset="utf-8")

    def _fail(self, code: str, message: str, status: int = 200) -> web.Response:
        return self._json({"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message}, status)

    def _check_signature(self, request: web.Request, raw: bytes) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        found = re.match(r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$", header)
        if not found:
            return self._fail("MissingAuthorization", "Authorization is mandatory for this action.", 400)
        key, signed, signature = found.groups()
        if key != self.access_key_id:
            return self._fail("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        body_hash = hashlib.sha256(raw).hexdigest()
        if request.headers.get("x-acs-content-sha256") != body_hash:
            return self._fail("InvalidParameter.ContentSHA256", "The content sha256 is not matched.", 400)
        headers = {k.lower(): v for k, v in request.headers.items()}
        names = signed.split(";")
        if any(n not in headers for n in names):
            return self._fail("SignatureDoesNotMatch", "Specified signature does not match our calculation.", 400)
        canon = canonical_request(request.method, dict(request.rel_url.query), headers, names, body_hash)
        if not hmac.compare_digest(acs3_signature(self.access_key_secret, canon), signature):
            return self._fail("SignatureDoesNotMatch", "Specified signature does not match our calculation.", 400)
        return None

    async def api(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        refused = self._check_signature(request, raw)
        if refused is not None:
            return refused
        action = request.headers.get("x-acs-action", "")
        params = dict(request.rel_url.query)
        if raw:
            form = await request.post()
            params.update({k: str(v) for k, v in form.items()})
        self.calls.append(action)
        if action in ("SendSms", "SendBatchSms"):
            return await self._send(request, action, params)
        if action == "QuerySendDetails":
            return self._query(params)
        return self._fail("InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404)

    async def _send(self, request: web.Request, action: str, p: dict[str, str]) -> web.StreamResponse:
        fault = self.faults.popleft() if self.faults else ""
        if fault == "500":
            return self._fail("InternalError", "The request processing has failed due to some unknown error.", 500)
        if fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if fault.startswith(("isv.", "isp.")):
            return self._fail(fault, "触发分钟级流控Permits:1" if "LIMIT" in fault else "系统错误")
        try:
            if action == "SendSms":
                phones = [n for n in p.get("PhoneNumbers", "").split(",") if n]
                signs = [p.get("SignName", "")] * len(phones)
                values = [json.loads(p.get("TemplateParam") or "{}")] * len(phones)
            else:
                phones = json.loads(p.get("PhoneNumberJson", "[]"))
                signs = json.loads(p.get("SignNameJson", "[]"))
                values = json.loads(p.get("TemplateParamJson", "[]"))
        except ValueError:
            return self._fail("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not phones:
            return self._fail("MissingPhoneNumbers", "PhoneNumbers is mandatory for this action.", 400)
        if len(phones) > MAX_NUMBERS[action]:
            return self._fail("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if not (len(phones) == len(signs) == len(values)):
            return self._fail("isv.INVALID_PARAMETERS", "参数异常")
        template = self.templates.get(p.get("TemplateCode", ""))
        if template is None:
            return self._fail("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        names = re.findall(r"\$\{(\w+)\}", template)
        bare: list[str] = []
        for phone, sign, value in zip(phones, signs, values, strict=True):
            mobile = MOBILE.match(str(phone))
            if not mobile:
                return self._fail("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
            if sign not in self.sign_names:
                return self._fail("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
            if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
                return self._fail("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
            if any(n not in value for n in names):
                return self._fail("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
            if any(not 1 <= len(value[n]) <= 35 for n in names):
                return self._fail("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
            if any(re.search(r"https?://|www\.", value[n]) for n in names):
                return self._fail("isv.PARAM_NOT_SUPPORT_URL", "不支持url为变量")
            bare.append(mobile.group(1))
        now = datetime.now(CHINA)
        for number in bare:
            used = sum(1 for s in self.sent if s.phone == number and s.template == p["TemplateCode"]
                       and s.at > now - timedelta(hours=24))
            if used >= self.daily_limit:
                return self._fail("isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{self.daily_limit}")
        biz_id = f"{next(self._seq):06d}{uuid.uuid4().int % 10**12:012d}^0"
        for number, sign, value in zip(bare, signs, values, strict=True):
            content = f"【{sign}】" + re.sub(r"\$\{(\w+)\}", functools.partial(_fill, value), template)
            self.sent.append(Sent(biz_id, number, p["TemplateCode"], value, sign, p.get("OutId", ""), now, content))
        if fault == "slow-accept":
            await asyncio.sleep(self.hang_seconds)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        return self._json({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4()).upper()})

    def _query(self, p: dict[str, str]) -> web.Response:
        mobile = MOBILE.match(p.get("PhoneNumber", ""))
        if not mobile:
            return self._fail("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        size, page = int(p.get("PageSize", "10")), int(p.get("CurrentPage", "1"))
        if not 1 <= size <= 50:
            return self._fail("isv.INVALID_PARAMETERS", "PageSize 1-50")
        rows = [s for s in self.sent if s.phone == mobile.group(1) and s.at.strftime("%Y%m%d") == p.get("SendDate")
                and (not p.get("BizId") or s.biz_id == p["BizId"])]
        shown = rows[(page - 1) * size: page * size]
        dtos = [{"PhoneNum": s.phone, "SendStatus": s.status, "ErrCode": s.err_code or ("DELIVERED" if s.status == 3 else ""),
                 "TemplateCode": s.template, "Content": s.content, "SendDate": s.at.strftime("%Y-%m-%d %H:%M:%S"),
                 "ReceiveDate": s.at.strftime("%Y-%m-%d %H:%M:%S") if s.status != 1 else "", "OutId": s.out_id}
                for s in shown]
        return self._json({"Code": "OK", "Message": "OK", "RequestId": str(uuid.uuid4()).upper(),
                           "TotalCount": str(len(rows)), "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos}})

    # --- what Alibaba Cloud pushes to nongbot -------------------------------------------------

    def settle(self, sent: Sent, delivered: bool = True, err_code: str = "") -> None:
        sent.status = 3 if delivered else 2
        sent.err_code = "DELIVERED" if delivered else (err_code or "MK:0001")

    def report_item(self, sent: Sent) -> dict[str, Any]:
        now = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        return {"phone_number": sent.phone, "send_time": sent.at.strftime("%Y-%m-%d %H:%M:%S"),
                "report_time": now, "success": sent.status == 3, "err_code": sent.err_code,
                "err_msg": "用户接收成功" if sent.status == 3 else "失败", "sms_size": "1",
                "biz_id": sent.biz_id, "out_id": sent.out_id}

    def up_item(self, phone: str, content: str, sequence_id: int | str | None = None) -> dict[str, Any]:
        return {"phone_number": phone, "send_time": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                "content": content, "sign_name": next(iter(self.sign_names)), "dest_code": "8827",
                "sequence_id": sequence_id if sequence_id is not None else 100000 + next(self._seq)}

    @staticmethod
    async def push(session: aiohttp.ClientSession, url: str, items: list[dict[str, Any]],
                   tries: int = 5) -> aiohttp.ClientResponse:
        """One batch push, as Alibaba Cloud sends it: a JSON array, application/json, UTF-8; pushed again
        (up to `tries` in all) while the answer is 503, "not stored in time", as the provider does."""
        for attempt in range(tries):
            resp = await session.post(url, data=json.dumps(items, ensure_ascii=False).encode(),
                                      headers={"Content-Type": "application/json;charset=utf-8"})
            if resp.status != 503 or attempt == tries - 1:
                break
            resp.release()
            await asyncio.sleep(0.2)
        return resp


async def _by_hand(nongbot: str, port: int) -> None:
    fake = FakeAliyun()
    url = f"{nongbot}/webhooks/aliyun/{CALLBACK_SECRET}"
    seen = 0

    async def typed(session: aiohttp.ClientSession, line: str) -> None:
        nonlocal seen
        async with await fake.push(session, url, [fake.up_item("13800138000", line)]) as resp:
            print(f"← {resp.status} {await resp.text()}")
        await asyncio.sleep(1.0)  # nongbot answers by a template send of its own
        for sent in fake.sent[seen:]:
            print(f"→ nongbot sent {sent.phone}: {sent.content}")
            fake.settle(sent)
            async with await fake.push(session, url, [fake.report_item(sent)]) as resp:
                print(f"  SmsReport delivered → {resp.status}")
        seen = len(fake.sent)

    codes = list(TEMPLATES)
    await run_by_hand(fake.app(), port, {
        "NONGBOT_SMS_PROVIDER": "aliyun", "NONGBOT_ALIYUN_ACCESS_KEY_ID": fake.access_key_id,
        "NONGBOT_ALIYUN_ACCESS_KEY_SECRET": fake.access_key_secret, "NONGBOT_ALIYUN_SIGN_NAME": SIGN_NAME,
        "NONGBOT_ALIYUN_ENDPOINT": f"127.0.0.1:{port}", "NONGBOT_ALIYUN_PROTOCOL": "http",
        "NONGBOT_ALIYUN_CALLBACK_SECRET": CALLBACK_SECRET,
        "NONGBOT_ALIYUN_TEMPLATE_REPLY": f"'{codes[0]}:p1,p2,p3,p4,p5,p6'",
        "NONGBOT_ALIYUN_TEMPLATE_NOTICE": f"'{codes[2]}:p1,p2,p3,p4'",
    }, "a villager (13800138000)", typed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nongbot", default="http://127.0.0.1:8080", help="nongbot's URL")
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args()
    asyncio.run(_by_hand(args.nongbot.rstrip("/"), args.port))


if __name__ == "__main__":
    main()


def _fill(values: dict[str, str], match: re.Match[str]) -> str:
    return values[match.group(1)]
