%% Erlang distribution measured as `grove bench remote` measures Grove:
%% two VMs on loopback, a round trip to an echo process, one-way streams
%% of small integers, 1 KiB and 64 KiB binaries into a counting sink.
%% Run on the driving VM:
%%   erl -noshell -name a@127.0.0.1 -run grove_bench_dist main Peer Trips Small KiB Big
%% It prints one line:
%%   ERLANG <OTP release> <rtt p50 us> <rtt p99 us> <small msg/s> <1k MiB/s> <64k MiB/s>
-module(grove_bench_dist).
-export([main/1, echo/0, sink/2]).

now_us() -> erlang:monotonic_time(microsecond).

main([PeerS, TripsS, SmallS, KiBS, BigS]) ->
    Peer = list_to_atom(PeerS),
    [Trips, Small, KiB, Big] = [list_to_integer(S) || S <- [TripsS, SmallS, KiBS, BigS]],
    try
        ok = connect(Peer, 200),
        {P50, P99} = round_trips(Peer, Trips),
        SmallMps = Small / stream(Peer, Small, fun(I) -> I end),
        B1 = binary:copy(<<7>>, 1024),
        KiBMiBps = KiB / 1024 / stream(Peer, KiB, fun(_) -> B1 end),
        B64 = binary:copy(<<7>>, 65536),
        BigMiBps = Big * 64 / 1024 / stream(Peer, Big, fun(_) -> B64 end),
        io:format("ERLANG ~s ~.3f ~.3f ~.1f ~.2f ~.2f~n",
                  [erlang:system_info(otp_release), P50, P99, SmallMps, KiBMiBps, BigMiBps]),
        halt(0)
    catch C:E:St ->
        io:format("ERROR ~p:~p ~p~n", [C, E, St]),
        halt(1)
    end.

connect(_, 0) -> {error, no_connection};
connect(Peer, N) ->
    case net_kernel:connect_node(Peer) of
        true -> ok;
        _ -> timer:sleep(50), connect(Peer, N - 1)
    end.

echo() ->
    receive
        {From, I} -> From ! {self(), I}, echo();
        stop -> ok
    end.

round_trips(Peer, N) ->
    E = spawn(Peer, ?MODULE, echo, []),
    Samples = [begin
                   T0 = erlang:monotonic_time(nanosecond),
                   E ! {self(), I},
                   receive {E, I} -> ok end,
                   erlang:monotonic_time(nanosecond) - T0
               end || I <- lists:seq(1, N)],
    E ! stop,
    S = list_to_tuple(lists:sort(Samples)),
    {element(N div 2 + 1, S) / 1000, element(N * 99 div 100 + 1, S) / 1000}.

sink(0, From) -> From ! {self(), done};
sink(N, From) -> receive _ -> sink(N - 1, From) end.

send_n(_, 0, _) -> ok;
send_n(P, N, Msg) -> P ! Msg(N), send_n(P, N - 1, Msg).

%% stream returns the seconds from the first send to the sink's report.
stream(Peer, N, Msg) ->
    P = spawn(Peer, ?MODULE, sink, [N, self()]),
    T0 = now_us(),
    send_n(P, N, Msg),
    receive {P, done} -> ok after 300000 -> exit(stream_timeout) end,
    (now_us() - T0) / 1.0e6.
