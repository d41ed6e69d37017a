# The two commands of the README's quick start; everything else is in hack/.
.PHONY: demo test crds docs kind bench mutation chaos release
demo:  ## run the embedded default: local control plane, operator, demo rollout
	bash hack/demo.sh $(ARGS)
test:  ## the whole test suite (what CI runs)
	bash hack/test.sh $(ARGS)
crds:  ## regenerate crds/ from the models
	bash -c 'source hack/lib.sh && ensure_python_env && nodewave crds'

docs:  ## the documentation site into site/ (mkdocs-material; ARGS=serve: on 127.0.0.1:8000)
	bash -c 'source hack/lib.sh && ensure_python_env && nodewave crds && NO_MKDOCS_2_WARNING=1 mkdocs $(or $(ARGS),build)'

kind:  ## a three-node kind cluster on podman from a node image built here (ARGS=down removes it; ARGS="load ARCHIVE" loads an image)
	bash hack/kind/cluster.sh $(or $(ARGS),up)

bench:  ## benchmarks: vs the DaemonSet controller (1,000 nodes; ARGS="--nodes 1000 5000"), rolling overhead, many Jobs on one fleet (memory per execution, steady cost), a small workload during a large rollout (vs DaemonSets), what each kind of API write costs, image pre-pull on real nodes, the dashboard's node map, memory with a long history of large configs
	bash -c 'source hack/lib.sh && ensure_python_env && ensure_binaries all && ensure_browser && ensure_container_runtime && python -m bench.reconcile $(ARGS) && python -m bench.rollout && python -m bench.fleet && python -m bench.crowd && python -m bench.writes && python -m bench.prepull && python -m bench.dashboard && python -m bench.revisions'

release:  ## every release artefact from the tagged commit into dist/<version>/ (ARGS=--snapshot: untagged)
	bash hack/release.sh $(ARGS)

mutation:  ## mutation testing of src/nodewave/core against the unit tests (not part of make test)
	bash hack/mutation.sh $(ARGS)

chaos:  ## the chaos suite at a larger scale; writes docs/reliability.md (make test runs it at scale 1)
	bash hack/chaos.sh $(ARGS)
