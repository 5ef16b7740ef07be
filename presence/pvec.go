package presence

// This file is a persistent vector of presences (in the manner of
// Clojure's, two levels deep): the presences of a topic in contiguous
// chunks, so that a reader copies a topic chunk by chunk, and a writer
// copies only the chunk it changes and the short tables that lead to it.
// A pvec value is immutable; the zero value is empty.

const (
	chunkSize = 32 // presences per chunk
	pageSize  = 32 // chunks per page
	pageSpan  = chunkSize * pageSize
)

type pvec struct {
	pages []*pvPage
	n     int
}

type pvPage struct {
	chunks [pageSize]*pvChunk
}

type pvChunk struct {
	items []Presence // at most chunkSize
}

func (v pvec) Len() int { return v.n }

func (v pvec) chunk(i int) *pvChunk { return v.pages[i/pageSpan].chunks[(i/chunkSize)%pageSize] }

// Get returns the presence at i, which must be below Len.
func (v pvec) Get(i int) Presence { return v.chunk(i).items[i%chunkSize] }

// withChunk returns v with the chunk holding index i replaced by c,
// copying the page table and the page.
func (v pvec) withChunk(i int, c *pvChunk) pvec {
	pages := append([]*pvPage(nil), v.pages...)
	pi := i / pageSpan
	var pg pvPage
	if pi < len(pages) {
		pg = *pages[pi]
	} else {
		pages = append(pages, nil)
	}
	pg.chunks[(i/chunkSize)%pageSize] = c
	pages[pi] = &pg
	v.pages = pages
	return v
}

// Set returns v with the presence at i (below Len) replaced.
func (v pvec) Set(i int, p Presence) pvec {
	old := v.chunk(i)
	c := &pvChunk{items: append([]Presence(nil), old.items...)}
	c.items[i%chunkSize] = p
	return v.withChunk(i, c)
}

// Push returns v with p appended.
func (v pvec) Push(p Presence) pvec {
	i := v.n
	var c *pvChunk
	if i%chunkSize == 0 {
		c = &pvChunk{items: make([]Presence, 1, chunkSize)}
		c.items[0] = p
	} else {
		old := v.chunk(i)
		items := make([]Presence, len(old.items)+1, chunkSize)
		copy(items, old.items)
		items[len(old.items)] = p
		c = &pvChunk{items: items}
	}
	v = v.withChunk(i, c)
	v.n++
	return v
}

// Pop returns v without its last presence; v must not be empty.
func (v pvec) Pop() pvec {
	i := v.n - 1
	if i%chunkSize == 0 {
		// The last chunk goes; so does its page if it was the page's first.
		if i%pageSpan == 0 {
			v.pages = append([]*pvPage(nil), v.pages[:len(v.pages)-1]...)
		} else {
			v = v.withChunk(i, nil)
		}
	} else {
		old := v.chunk(i)
		v = v.withChunk(i, &pvChunk{items: append([]Presence(nil), old.items[:len(old.items)-1]...)})
	}
	v.n--
	return v
}

// AppendTo appends every presence to out, chunk by chunk.
func (v pvec) AppendTo(out []Presence) []Presence {
	for _, pg := range v.pages {
		for _, c := range pg.chunks {
			if c == nil {
				return out
			}
			out = append(out, c.items...)
		}
	}
	return out
}

// Each calls fn for every presence in order until it returns false.
func (v pvec) Each(fn func(Presence) bool) {
	for _, pg := range v.pages {
		for _, c := range pg.chunks {
			if c == nil {
				return
			}
			for _, p := range c.items {
				if !fn(p) {
					return
				}
			}
		}
	}
}
