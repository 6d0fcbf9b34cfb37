/**
 * Models from the Hugging Face Hub, the way huggingface_hub fetches and caches them, so that Python
 * tools and starattn share one cache in both directions.
 *
 * <p>{@link dev.starattn.hub.HubPull} downloads a repository's files into the cache layout of
 * huggingface_hub ({@code models--ORG--NAME/blobs/<etag>}, {@code snapshots/<sha>/<file>} as relative
 * links to the blobs, {@code refs/<revision>}); {@link dev.starattn.hub.ModelLocator} is the one place a
 * model argument ({@code -m}) becomes a path: a local path, a snapshot in that cache, or a file in
 * llama.cpp's cache; {@link dev.starattn.hub.CachedModels} lists what the caches hold. The environment
 * ({@code HF_ENDPOINT}, {@code HF_HOME}, {@code HF_HUB_CACHE}, {@code HF_TOKEN}, {@code HF_HUB_OFFLINE},
 * {@code LLAMA_CACHE}) is read once into a {@link dev.starattn.hub.HubEnvironment}.
 */
package dev.starattn.hub;
