# Helpers for tests with real phones (sourced after lib.sh, not run):
# baresip and linphonec set-up with private configs, audio from WAV files,
# what was heard checked with sox, and the journal and trace read back.
# The sourcing script sets DIR, IP and PROXY_PORT (where the phones find
# the proxy). RUN_IN, when set, prefixes every client command
# (e.g. "ip netns exec NS" for a phone in a network namespace), and
# AT_PROXY prefixes the registrar queries (run where the proxy is).

# tone FILE HZ: 30 s of a sine at HZ (longer than any call here), 8 kHz
# mono 16 bit.
tone() { sox -n -r 8000 -c 1 -b 16 "$1" synth 30 sine "$2" vol 0.5; }

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
    ${RUN_IN:-} baresip -f "$DIR/$name" -t "$seconds" "${cmd[@]}" </dev/null >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# baresip_start_scripted NAME SECONDS DELAY COMMAND: like baresip_start, and
# types COMMAND on its console after DELAY seconds (the typist is a tracked
# process too, so nothing outlives the test).
baresip_start_scripted() {
    local name=$1 seconds=$2 delay=$3 command=$4
    mkfifo "$DIR/$name/console"
    ${RUN_IN:-} baresip -f "$DIR/$name" -t "$seconds" <"$DIR/$name/console" >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    (sleep "$delay"; printf '%s\n' "$command"; exec sleep "$seconds") >"$DIR/$name/console" &
    PIDS+=("$!")
}

# linphone_setup NAME USER IP HZ: a private linphonec config (its own HOME,
# SIP on IP:5062, RTP ports by IP) registering USER with the proxy. The
# message database must be writable: without it the core never starts and
# no SIP transport comes up ("No listening point matching ...").
linphone_setup() {
    local name=$1 user=$2 ip=$3 hz=$4 dir=$DIR/$1
    local base=$((21000 + ${ip##*.} * 100))
    mkdir -p "$dir/home/.local/share/linphone"
    tone "$dir/tone.wav" "$hz"
    cat >"$dir/rc" <<CFG
[sip]
sip_port=5062
sip_tcp_port=0
sip_tls_port=0
ipv6=0
bind_address=$ip
[rtp]
symmetric=1
audio_rtp_port=$base
video_rtp_port=$((base + 10))
[proxy_0]
reg_proxy=sip:$IP:$PROXY_PORT
reg_identity=sip:$user@$IP:$PROXY_PORT
reg_expires=60
reg_sendregister=1
[storage]
uri=$dir/linphone.db
[video]
automatically_accept=1
automatically_initiate=1
[misc]
conference_event_log_enabled=1
CFG
}

# linphone_over NAME tcp|tls PROXY_PORT [CA]: NAME's linphonec speaks only
# TCP (or TLS, checking the proxy's certificate against CA) on port 5062,
# registers with the proxy at PROXY_PORT over it and sends everything there
# (outbound proxy: reg_route).
linphone_over() {
    local name=$1 tp=$2 port=$3 ca=${4:-} rc=$DIR/$1/rc
    sed -i -e 's/^sip_port=5062/sip_port=0/' -e "s/^sip_${tp}_port=0/sip_${tp}_port=5062/" \
        -e "s|^reg_proxy=.*|reg_proxy=<sip:$IP:$port;transport=$tp>|" "$rc"
    sed -i "/^reg_proxy=/a reg_route=<sip:$IP:$port;transport=$tp;lr>" "$rc"
    if [ -n "$ca" ]; then
        sed -i "/^\[sip\]/a root_ca=$ca\nverify_server_certs=1\nverify_server_cn=1" "$rc"
    fi
}

# linphone_start NAME SCRIPT [linphonec flags]: runs linphonec with sound
# from NAME/tone.wav and what it hears into NAME/heard.wav, typing SCRIPT's
# lines on its console ("sleep N" lines pause; "await TEXT" waits, 30 s at
# most, until its console has printed TEXT), then quit. PID in LAST_PID.
# await_console FILE TEXT: until FILE holds TEXT, 30 s at most (a phone's
# script goes on either way: the test's checks say what did not happen).
await_console() {
    for _ in $(seq 300); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
}

linphone_start() {
    local name=$1 script=$2 dir=$DIR/$1
    shift 2
    mkfifo "$dir/console"
    HOME=$dir/home ${RUN_IN:-} linphonec -c "$dir/rc" -d 6 -l "$dir/linphone.log" "$@" \
        <"$dir/console" >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    {
        printf 'soundcard use files\nplay %s\nrecord %s\n' "$dir/tone.wav" "$dir/heard.wav"
        local line
        while IFS= read -r line; do
            case $line in
            sleep\ *) $line ;;
            await\ *) await_console "$DIR/$name.log" "${line#await }" ;;
            ?*) printf '%s\n' "$line" ;;
            esac
        done <<<"$script"
        printf 'quit\n'
    } >"$dir/console" &
    PIDS+=("$!")
}

# calls_bob LINE...: a console script that calls bob after a second, then
# goes on with the LINEs.
calls_bob() {
    printf 'sleep 1\ncall sip:bob@%s:%s\n' "$IP" "$PROXY_PORT"
    printf '%s\n' "$@"
}

# linphone_pair: alice (127.0.0.5, 1 kHz) and bob (127.0.0.6, 440 Hz).
linphone_pair() {
    linphone_setup alice alice 127.0.0.5 1000
    linphone_setup bob bob 127.0.0.6 440
}

# linphone_trio: the pair and carol (127.0.0.7, 700 Hz).
linphone_trio() {
    linphone_pair
    linphone_setup carol carol 127.0.0.7 700
}

# bob_then_alice BOB_SCRIPT BOB_FLAGS ALICE_SCRIPT [ALICE_FLAGS]: with the
# proxy up, bob starts and registers, then alice runs; waits for both.
bob_then_alice() {
    linphone_start bob "$1" $2
    local bob=$LAST_PID
    registered bob 127.0.0.6 || return 1
    linphone_start alice "$3" ${4:-}
    wait "$LAST_PID" "$bob"
}

# linphone_says NAME TEXT: NAME's console printed TEXT.
linphone_says() {
    grep -q -- "$2" "$DIR/$1.log" || { log "$1 never said '$2'"; return 1; }
}

# registered USER IP: the registrar lists a binding of USER at IP.
registered() {
    local n
    for n in $(seq 50); do
        ${AT_PROXY:-} python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --print --expect 200 --wait 0.5 --text \
            "REGISTER sip:$IP:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-q$n$RANDOM;rport\r\nFrom: <sip:$1@$IP:$PROXY_PORT>;tag=q$n\r\nTo: <sip:$1@$IP:$PROXY_PORT>\r\nCall-ID: query-$n-$RANDOM\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n" \
            >"$DIR/query.out" 2>&1
        grep -q "^Contact: .*@$2:5062" "$DIR/query.out" && return 0
        sleep 0.2
    done
    log "$1 is not registered from $2: $(cat "$DIR/query.out")"
    return 1
}

# registered_with_password USER PASSWORD IP: as registered, for a proxy
# that wants credentials for the fetch too (digest_client.py --query).
registered_with_password() {
    local n
    for n in $(seq 50); do
        ${AT_PROXY:-} python3 "$HERE/digest_client.py" "$IP" "$PROXY_PORT" --user "$1" \
            --password "$2" --query --steps plain,auth >"$DIR/query.out" 2>&1
        grep -q "^Contact: .*@$3:5062" "$DIR/query.out" && return 0
        sleep 0.2
    done
    log "$1 is not registered from $3: $(cat "$DIR/query.out")"
    return 1
}

# call_audio NAME: the file with what NAME heard (linphonec's record file,
# else baresip's decoded dump).
call_audio() {
    if [ -s "$DIR/$1/heard.wav" ]; then
        echo "$DIR/$1/heard.wav"
    else
        ls "$DIR/$1"/dump-*-dec.wav 2>/dev/null | head -1
    fi
}

# heard NAME HZ: the audio NAME decoded in its call has a tone near HZ.
heard() {
    local wav
    wav=$(call_audio "$1")
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

# heard_all NAME HZ...: each tone is present in the last 4 s of what NAME
# heard (a mix, as in a conference): at least 5 % of the spectrum's power
# lies within 5 % of it.
heard_all() {
    local name=$1 wav hz share
    wav=$(call_audio "$name")
    shift
    [ -n "$wav" ] || { log "$name recorded no call audio"; return 1; }
    for hz in "$@"; do
        share=$(sox "$wav" -n trim -4 stat -freq 2>&1 | awk -v hz="$hz" '
            NF == 2 && $1 + 0 > 0 { total += $2; if ($1 > hz * 0.95 && $1 < hz * 1.05) near += $2 }
            END { printf "%.3f", (total > 0 ? near / total : 0) }')
        echo "$name: $share of the power near $hz Hz" >>"$DIR/test.log"
        awk -v s="$share" 'BEGIN { exit !(s >= 0.05) }' ||
            { log "$name did not hear $hz Hz in the mix ($share of the power)"; return 1; }
    done
}

# stop_clients PID...: ends clients still running (they hang up on SIGTERM)
# and reaps them.
stop_clients() {
    kill -TERM "$@" 2>/dev/null
    wait "$@"
}

# relayed_answers IP: the media lines of every 200 to an INVITE the proxy
# relayed to IP, one answer per line.
relayed_answers() {
    tshark -r "$DIR/sip.pcap" -Y "sip.Status-Code == 200 && sip.CSeq.method == \"INVITE\" && ip.dst == $1" \
        -T fields -e sdp.media 2>/dev/null
}

# accepts_video WHAT MEDIA: MEDIA (an answer's media lines) has a video
# stream on a real port (port 0 declines it).
accepts_video() {
    echo "$2" | grep -qE "video [1-9][0-9]* RTP/AVP" || { log "$1 accepts no video: $2"; return 1; }
}

# sipfrag_notify_reached IP: a NOTIFY with a message/sipfrag body (the
# transfer's progress) was relayed to IP.
sipfrag_notify_reached() {
    tshark -r "$DIR/sip.pcap" -Y "sip.Method == \"NOTIFY\" && ip.dst == $1" \
        -T fields -e sip.Content-Type 2>/dev/null | grep -q "message/sipfrag" ||
        { log "no NOTIFY with message/sipfrag reached $1"; return 1; }
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

# journal_shows_transfer: two calls, alice->bob answered and naming carol in
# its Refer-To, then alice->carol answered.
journal_shows_transfer() {
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

# journal_links_the_transfer TARGET: the call bob handed over (alice's
# INVITE with Replaces) names the call it replaced (bob's to TARGET) and
# who asked.
journal_links_the_transfer() {
    python3 - "$DIR/journal.jsonl" "$1" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
target = sys.argv[2]
print([(c["from"]["aor"], c["to"]["aor"], c["outcome"], c.get("replaces")) for c in calls])
new = [c for c in calls if c.get("replaces")]
assert len(new) == 1, f"{len(new)} calls with replaces"
assert new[0]["from"]["aor"].startswith("sip:alice@") and new[0]["outcome"] == "answered", new[0]
old = [c for c in calls if c["call_id"] == new[0]["replaces"]["call_id"]]
assert old and old[0]["from"]["aor"].startswith("sip:bob@"), old
assert old[0]["to"]["aor"].startswith(f"sip:{target}@"), old
assert new[0]["replaces"]["referred_by"].startswith("sip:bob@"), new[0]
print("journal ok: replaces", new[0]["replaces"])
PY
}
