#!/usr/bin/env bash
# Real phones through switchboard: baresip (and Linphone's linphonec) on
# loopback addresses, one per client (127.0.0.2, .3, .4), audio from WAV
# files, what was heard checked with sox. Every process is started here and
# ended by PID; on failure the clients' logs, the journal and a SIP trace of
# the test stay in its folder.
#
# usage: tests/clients_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
IP=127.0.0.1
PROXY_PORT=${SB_CLIENT_TEST_PORT:-15160}
mkdir -p "$OUT"
. "$HERE/lib.sh"

start_proxy() {
    launch_proxy --workers 2 --listeners 2 --journal "$DIR/journal.jsonl" --trace "$DIR/sip.pcap" "$@"
}

# tone FILE HZ: 10 s of a sine at HZ, 8 kHz mono 16 bit.
tone() { sox -n -r 8000 -c 1 -b 16 "$1" synth 10 sine "$2" vol 0.5; }

# baresip_setup NAME USER IP ANSWERMODE HZ [video]: a private config
# directory; with "video", VP8 from baresip's test-pattern source as well.
baresip_setup() {
    local name=$1 user=$2 ip=$3 answer=$4 hz=$5 video=${6:-} dir=$DIR/$1
    local base=$((21000 + ${ip##*.} * 100))
    mkdir -p "$dir"
    tone "$dir/tone.wav" "$hz"
    cat >"$dir/config" <<CFG
poll_method		epoll
sip_listen		$ip:5062
sip_trans_def		udp
net_interface		$ip
rtp_ports		$base-$((base + 99))
audio_player		aufile,$dir/played.wav
audio_source		aufile,$dir/tone.wav
audio_alert		aufile,$dir/alert.wav
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			sndfile.so
module			stdio.so
snd_path		$dir
CFG
    local codecs="audio_codecs=PCMU"
    if [ "$video" = video ]; then
        printf 'module\t\t\tvp8.so\nmodule\t\t\tfakevideo.so\n' >>"$dir/config"
        printf 'video_source\t\tfakevideo,nil\nvideo_display\t\tfakevideo,nil\n' >>"$dir/config"
        codecs="$codecs;video_codecs=VP8"
    fi
    printf 'module_app\t\taccount.so\nmodule_app\t\tmenu.so\n' >>"$dir/config"
    echo "<sip:$user@$IP:$PROXY_PORT;transport=udp>;regint=60;answermode=$answer;$codecs" \
        >"$dir/accounts"
}

# baresip_start NAME SECONDS [COMMAND]: runs it for SECONDS; PID in LAST_PID.
baresip_start() {
    local name=$1 seconds=$2
    shift 2
    local cmd=()
    [ $# -gt 0 ] && cmd=(-e "$1")
    baresip -f "$DIR/$name" -t "$seconds" "${cmd[@]}" </dev/null >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# baresip_start_scripted NAME SECONDS DELAY COMMAND: like baresip_start, and
# types COMMAND on its console after DELAY seconds.
baresip_start_scripted() {
    local name=$1 seconds=$2 delay=$3 command=$4
    (sleep "$delay"; printf '%s\n' "$command"; sleep "$seconds") |
        baresip -f "$DIR/$name" -t "$seconds" >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# registered USER IP: the registrar lists a binding of USER at IP.
registered() {
    local n
    for n in $(seq 50); do
        python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --print --expect 200 --wait 0.5 --text \
            "REGISTER sip:$IP:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-q$n$RANDOM;rport\r\nFrom: <sip:$1@$IP:$PROXY_PORT>;tag=q$n\r\nTo: <sip:$1@$IP:$PROXY_PORT>\r\nCall-ID: query-$n-$RANDOM\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n" \
            >"$DIR/query.out" 2>&1
        grep -q "^Contact: .*@$2:5062" "$DIR/query.out" && return 0
        sleep 0.2
    done
    log "$1 is not registered from $2: $(cat "$DIR/query.out")"
    return 1
}

# heard NAME HZ: the audio NAME decoded in its call has a tone near HZ.
heard() {
    local wav
    wav=$(ls "$DIR/$1"/dump-*-dec.wav 2>/dev/null | head -1)
    [ -n "$wav" ] || { log "$1 recorded no call audio"; return 1; }
    local stat freq rms
    stat=$(sox "$wav" -n stat 2>&1)
    freq=$(echo "$stat" | awk '/Rough +frequency/ {print $3}')
    rms=$(echo "$stat" | awk '/RMS +amplitude/ {print $3}')
    echo "$1 heard ${freq} Hz at RMS ${rms}" >>"$DIR/test.log"
    # sox reads 1000 Hz through G.711 as ~975 Hz: allow 10 %
    awk -v f="$freq" -v want="$2" -v r="$rms" \
        'BEGIN { exit !(f > want * 0.9 && f < want * 1.1 && r > 0.1) }' ||
        { log "$1 did not hear $2 Hz: got $freq Hz, RMS $rms"; return 1; }
}

# journal_says FIELD=VALUE...: the journal has exactly one line, with these.
journal_says() {
    python3 - "$DIR/journal.jsonl" "$@" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(lines) == 1, f"{len(lines)} journal lines"
rec = lines[0]
for want in sys.argv[2:]:
    key, value = want.split("=", 1)
    got = str(rec.get(key))
    assert value in got, f"journal {key}={got}, want {value}"
print("journal ok:", rec["outcome"], rec["hung_up_by"])
PY
}

# --- tests --------------------------------------------------------------------

test_voice_call_caller_hangs_up() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_proxy || return 1
    baresip_start bob 20
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 8 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    kill -TERM "$bob" 2>/dev/null
    wait "$bob"
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=caller answered_by=127.0.0.3
}

test_voice_call_callee_hangs_up() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_proxy || return 1
    baresip_start bob 7
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 20 "/dial sip:bob@$IP:$PROXY_PORT"
    local alice=$LAST_PID
    wait "$bob"
    sleep 1
    kill -TERM "$alice" 2>/dev/null
    wait "$alice"
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=callee
}

test_cancel_while_ringing() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 manual 440
    start_proxy || return 1
    baresip_start bob 15
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 3 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    kill -TERM "$bob" 2>/dev/null
    wait "$bob"
    grep -qi "ringing" "$DIR/alice.log" || { log "alice never heard ringing"; return 1; }
    stop_proxy && journal_says outcome=cancelled hung_up_by=caller status=487
}

test_fork_to_two_devices() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup desk bob 127.0.0.3 manual 440
    baresip_setup phone bob 127.0.0.4 auto 440
    start_proxy || return 1
    baresip_start desk 20
    local desk=$LAST_PID
    baresip_start phone 20
    local phone=$LAST_PID
    registered bob 127.0.0.3 && registered bob 127.0.0.4 || return 1
    baresip_start alice 6 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    kill -TERM "$desk" "$phone" 2>/dev/null
    wait "$desk" "$phone"
    # the desk rang, then stopped when the phone answered
    grep -qi "incoming call" "$DIR/desk.log" || { log "the desk never rang"; return 1; }
    grep -qiE "terminated|closed" "$DIR/desk.log" || { log "the desk kept ringing"; return 1; }
    stop_proxy && heard phone 1000 &&
        journal_says outcome=answered answered_by=127.0.0.4 hung_up_by=caller
}

# A video call: the callee's answer, relayed by the proxy, accepts the
# m=video stream (non-zero port), and the journal notes video.
test_video_call() {
    baresip_setup alice alice 127.0.0.2 auto 1000 video
    baresip_setup bob bob 127.0.0.3 auto 440 video
    start_proxy || return 1
    baresip_start bob 15
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 6 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    kill -TERM "$bob" 2>/dev/null
    wait "$bob"
    stop_proxy || return 1
    tshark -r "$DIR/sip.pcap" -Y 'sip.Status-Code == 200 && sdp && ip.dst == 127.0.0.2' \
        -T fields -e sdp.media 2>/dev/null >"$DIR/answer-media.txt"
    grep -qE "video [1-9][0-9]* RTP/AVP" "$DIR/answer-media.txt" ||
        { log "the relayed answer accepts no video: $(cat "$DIR/answer-media.txt")"; return 1; }
    heard bob 1000 && journal_says outcome=answered video=True
}

# Blind transfer (RFC 3515): alice calls bob, bob REFERs her to carol; the
# REFER, its 202 and the NOTIFY (message/sipfrag) travel through the proxy,
# alice calls carol and carol hears her.
test_blind_transfer() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    baresip_setup carol carol 127.0.0.4 auto 700
    start_proxy || return 1
    baresip_start carol 25
    local carol=$LAST_PID
    baresip_start_scripted bob 25 5 "/transfer sip:carol@$IP:$PROXY_PORT"
    local bob=$LAST_PID
    registered bob 127.0.0.3 && registered carol 127.0.0.4 || return 1
    baresip_start alice 12 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    kill -TERM "$bob" "$carol" 2>/dev/null
    wait "$bob" "$carol"
    stop_proxy || return 1
    local notify
    notify=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "NOTIFY" && ip.dst == 127.0.0.3' \
        -T fields -e sip.Content-Type 2>/dev/null | grep -c "message/sipfrag")
    [ "$notify" -ge 1 ] || { log "no NOTIFY with message/sipfrag reached bob"; return 1; }
    heard carol 1000 || return 1
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(calls) == 2, f"{len(calls)} journal lines"
first, second = calls
assert first["to"]["aor"].startswith("sip:bob@") and first["outcome"] == "answered", first
assert "carol" in first["transfer"]["refer_to"], first
assert second["from"]["aor"].startswith("sip:alice@") and second["to"]["aor"].startswith("sip:carol@"), second
assert second["outcome"] == "answered", second
print("journal ok: transfer to", first["transfer"]["refer_to"])
PY
}

# --- runner -------------------------------------------------------------------

run_tests clients "" "$@"
