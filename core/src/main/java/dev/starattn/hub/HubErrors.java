package dev.starattn.hub;

import java.io.IOException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;

/**
 * One sentence per way a pull fails, naming the repository and the file. The Hub says which error it
 * is in {@code X-Error-Code} (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound); the status
 * code decides when it does not.
 */
final class HubErrors {
    private HubErrors() {}

    static HubException forStatus(int status, HttpHeaders headers, RepoRef repo, String file, boolean hasToken) {
        String code = headers.firstValue("X-Error-Code").orElse("");
        String what = file == null ? repo.toString() : repo.id() + " file " + file;
        if (code.equals("GatedRepo")) {
            return new HubException(repo.id() + " is gated: accept its conditions on the Hub with your account, then "
                    + (hasToken ? "make sure HF_TOKEN is a token of that account" : "set HF_TOKEN to a token of that account")
                    + " (HTTP " + status + " for " + what + ").");
        }
        if (code.equals("RevisionNotFound")) return new HubException("revision " + repo.revision() + " of " + repo.id() + " does not exist (HTTP " + status + ").");
        if (code.equals("EntryNotFound")) return new HubException(repo.id() + " has no file " + file + " at revision " + repo.revision() + " (HTTP " + status + ").");
        if (code.equals("RepoNotFound") || status == 404) {
            if (file != null && !code.equals("RepoNotFound")) {
                return new HubException(repo.id() + " has no file " + file + " at revision " + repo.revision() + " (HTTP 404).");
            }
            return new HubException("repository " + repo.id() + " was not found on the Hub: check the name"
                    + (hasToken ? "" : ", or set HF_TOKEN if it is private") + " (HTTP " + status + ").");
        }
        if (status == 401 || status == 403) {
            return new HubException(hasToken
                    ? "HF_TOKEN is not allowed to read " + what + ": it may be gated (accept its conditions on the Hub) or private (HTTP " + status + ")."
                    : what + " needs a token: it is gated or private; set HF_TOKEN to a token of an account that may read it (HTTP " + status + ").");
        }
        if (status == 416) return new HubException("the Hub refused to resume " + what + " (HTTP 416); delete its .incomplete file in the cache and pull again.");
        if (status == 429) return new HubException("the Hub is rate-limiting this machine for " + what + " (HTTP 429); wait a minute and pull again.");
        if (status >= 500) return new HubException("the Hub failed on " + what + " (HTTP " + status + "); try again later.");
        return new HubException("the Hub answered HTTP " + status + " for " + what + ".");
    }

    static HubException unreachable(HubEnvironment env, RepoRef repo, String file, IOException e) {
        String what = file == null ? repo.toString() : repo.id() + " file " + file;
        String why;
        if (e instanceof HttpConnectTimeoutException) why = "the connection timed out";
        else if (e instanceof HttpTimeoutException) why = "it did not answer in time";
        else if (e instanceof ConnectException || e.getCause() instanceof ConnectException) why = "the connection was refused";
        else if (e instanceof UnknownHostException || e.getCause() instanceof UnresolvedAddressException) why = "its host name does not resolve";
        else why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new HubException("cannot reach " + env.endpoint() + " for " + what + " (" + why
                + "); check the network, or set HF_HUB_OFFLINE=1 to use only what is cached.", e);
    }

    static HubException offline(RepoRef repo, HubCache cache) {
        return new HubException(repo + " is not in the cache " + cache.root() + " and HF_HUB_OFFLINE is set, so it cannot be downloaded; unset HF_HUB_OFFLINE and run `starattn pull " + repo + "`.");
    }

    static HubException noSpace(RepoRef repo, String file, java.nio.file.Path dir, long needed, long free) {
        return new HubException("not enough space in " + dir + " for " + repo.id() + " file " + file + ": it needs "
                + Bytes.human(needed) + " more and " + Bytes.human(free) + " is free; free some space or set HF_HUB_CACHE to another disk.");
    }
}
