"""Slack with a bot token, over HTTP against a stand-in for Slack's Web API: one message
per incident, edited in place, later messages in its thread, Slack's answers classified."""

from __future__ import annotations

import pytest

from alerting.alert import AlertMessage
from alerting.notifier import DeliveryResult
from alerting.slack_bot import SlackBotNotifier
from tests.alerting.factory import alert_message
from tests.alerting.slack_api import BOT_TOKEN, CHANNEL_ID, ApiReply, SlackApiStandIn


def bot(stand_in: SlackApiStandIn, token: str = BOT_TOKEN) -> SlackBotNotifier:
    return SlackBotNotifier(token, "#oncall", 2.0, base_url=stand_in.base_url)


def send(notifier: SlackBotNotifier, message: AlertMessage) -> DeliveryResult:
    return notifier.send(message, key=f"{message.alert_id}.slack.{message.revision}")


def test_an_incident_is_one_message_edited_in_place_with_its_updates_in_the_thread(
    slack_api: SlackApiStandIn,
) -> None:
    notifier = bot(slack_api)
    first = send(notifier, alert_message(severity="warning", anomaly_count=1))
    assert first.ok and first.thread_ref is not None
    channel, ts = first.thread_ref.split(":")
    assert channel == CHANNEL_ID
    assert slack_api.calls[0].payload["channel"] == "#oncall"

    grew = alert_message(kind="update", revision=2, anomaly_count=7, thread_ref=first.thread_ref)
    resolved = alert_message(kind="resolved", revision=3, anomaly_count=7,
                             resolved_at="2026-11-03T10:02:00Z", thread_ref=first.thread_ref)
    assert send(notifier, grew) == DeliveryResult(True, False)
    assert send(notifier, resolved) == DeliveryResult(True, False)

    [page] = slack_api.top_level()
    assert page.ts == ts and page.edits == 2
    assert page.blocks[0]["text"]["text"] == (
        ":white_check_mark: [RESOLVED] checkout: error burst — resolved")
    assert "*Count*\n7" in [f["text"] for f in page.blocks[1]["fields"]]
    replies = slack_api.replies_to(ts)
    assert [r.blocks[0]["text"]["text"] for r in replies] == [
        ":red_circle: Re: [CRITICAL] checkout: error burst (updated)",
        ":white_check_mark: Re: [CRITICAL] checkout: error burst (resolved)",
    ]
    assert [c.method for c in slack_api.calls] == [
        "chat.postMessage", "chat.update", "chat.postMessage", "chat.update", "chat.postMessage"]


def test_a_deleted_first_message_still_gets_its_thread_reply(slack_api: SlackApiStandIn) -> None:
    result = send(bot(slack_api), alert_message(kind="update", thread_ref=f"{CHANNEL_ID}:1.000001"))
    assert result.ok and result.reason == "first message not edited: message_not_found"
    [reply] = slack_api.messages.values()
    assert reply.thread_ts == "1.000001"


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after_s", "in_reason"),
    [
        (ApiReply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "9"}), True, 9.0,
         "rate limited"),
        (ApiReply(200, {"ok": False, "error": "ratelimited"}), True, None, "ratelimited"),
        (ApiReply(500, "<html>oops</html>"), True, None, "500"),
        (ApiReply(503, {"ok": False, "error": "service_unavailable"}, {"Retry-After": "3"}),
         True, 3.0, "503"),
        (ApiReply(200, {"ok": False, "error": "internal_error"}), True, None, "internal_error"),
        (ApiReply(200, {"ok": False, "error": "channel_not_found"}), False, None,
         "channel_not_found"),
        (ApiReply(200, {"ok": False, "error": "invalid_blocks"}), False, None, "invalid_blocks"),
        (ApiReply(404, {"ok": False, "error": "no_service"}), False, None, "404"),
    ],
)
def test_slack_answers_map_to_results_after_exactly_one_call(
    slack_api: SlackApiStandIn, reply: ApiReply, retryable: bool, retry_after_s: float | None,
    in_reason: str,
) -> None:
    slack_api.replies.append(reply)
    result = send(bot(slack_api), alert_message())
    assert (result.ok, result.retryable, result.retry_after_s) == (False, retryable, retry_after_s)
    assert result.reason is not None and in_reason in result.reason
    assert len(slack_api.calls) == 1  # the SDK did not retry behind our back


def test_a_bad_token_is_given_up_and_never_shown(slack_api: SlackApiStandIn) -> None:
    wrong = "xoxb-9999-wrong-but-still-secret"
    result = send(bot(slack_api, wrong), alert_message())
    assert (result.ok, result.retryable) == (False, False)
    assert result.reason is not None and "invalid_auth" in result.reason
    assert wrong not in repr(result)


def test_an_update_that_fails_to_edit_is_retried_before_any_reply(
    slack_api: SlackApiStandIn,
) -> None:
    notifier = bot(slack_api)
    first = send(notifier, alert_message())
    slack_api.replies.append(ApiReply(500, {"ok": False, "error": "fatal_error"}))
    update = alert_message(kind="update", revision=2, thread_ref=first.thread_ref)
    assert send(notifier, update).retryable
    assert send(notifier, update).ok
    assert len(slack_api.replies_to(first.thread_ref.split(":")[1])) == 1  # type: ignore[union-attr]


def test_an_unreachable_slack_is_retryable(closed_port: int) -> None:
    notifier = SlackBotNotifier(BOT_TOKEN, "#oncall", 0.5,
                                base_url=f"http://127.0.0.1:{closed_port}/api/")
    result = notifier.send(alert_message())
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason is not None and BOT_TOKEN not in result.reason


def by_id(stand_in: SlackApiStandIn) -> SlackBotNotifier:
    """Named by channel id: a repeat can be looked for in the channel's history."""
    return SlackBotNotifier(BOT_TOKEN, CHANNEL_ID, 2.0, base_url=stand_in.base_url)


def test_a_first_message_sent_again_after_a_lost_record_is_not_posted_twice(
    slack_api: SlackApiStandIn,
) -> None:
    page = alert_message()
    first = by_id(slack_api).send(page, key="alert-7f3a.slack:oncall")
    again = by_id(slack_api).send(page, key="alert-7f3a.slack:oncall")  # the sender had died
    assert again.ok and again.thread_ref == first.thread_ref
    assert len(slack_api.top_level()) == 1
    other = by_id(slack_api).send(alert_message(alert_id="alert-2"), key="alert-2.slack:oncall")
    assert other.thread_ref != first.thread_ref and len(slack_api.top_level()) == 2


def test_a_reply_sent_again_is_not_posted_twice(slack_api: SlackApiStandIn) -> None:
    notifier = by_id(slack_api)
    first = notifier.send(alert_message(), key="k.1")
    update = alert_message(kind="update", revision=2, thread_ref=first.thread_ref)
    assert notifier.send(update, key="k.2").ok and notifier.send(update, key="k.2").ok
    resolved = alert_message(kind="resolved", revision=3, thread_ref=first.thread_ref)
    assert notifier.send(resolved, key="k.3").ok
    ts = first.thread_ref.split(":")[1]  # type: ignore[union-attr]
    assert len(slack_api.replies_to(ts)) == 2


def test_without_history_access_it_posts_and_stops_asking(slack_api: SlackApiStandIn) -> None:
    slack_api.history_error = "missing_scope"
    notifier = by_id(slack_api)
    assert notifier.send(alert_message(), key="a").ok
    assert notifier.send(alert_message(alert_id="b"), key="b").ok
    assert [c.method for c in slack_api.calls] == [
        "conversations.history", "chat.postMessage", "chat.postMessage"]


def test_a_rate_limited_history_read_is_retried_later(slack_api: SlackApiStandIn) -> None:
    slack_api.replies.append(ApiReply(429, {"ok": False, "error": "ratelimited"},
                                      {"Retry-After": "30"}))
    result = by_id(slack_api).send(alert_message(), key="a")
    assert (result.retryable, result.retry_after_s) == (True, 30.0)
    assert slack_api.top_level() == []


def test_the_edited_first_message_notifies_with_its_state_now(slack_api: SlackApiStandIn) -> None:
    notifier = bot(slack_api)
    first = notifier.send(alert_message(severity="warning"), key="k.1")
    notifier.send(alert_message(kind="resolved", revision=2, thread_ref=first.thread_ref),
                  key="k.2")
    [page] = slack_api.top_level()
    assert page.text.startswith("[RESOLVED] checkout: error burst — resolved: ")
