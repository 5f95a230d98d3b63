//! /proc/slabinfo, version 2.1 (mm/slab_common.c, `slab_show`): one line
//! per cache of the registry, without the SLAB-era tunables (zeros):
//!
//! ```text
//! slabinfo - version: 2.1
//! # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...
//! kmalloc-64           412    448     64   64    1 : tunables    0    0    0 : slabdata      7      7      0
//! ```

use core::fmt;

use crate::kalloc::slab::CacheRegistry;

pub fn render(registry: &CacheRegistry, w: &mut dyn fmt::Write) -> fmt::Result {
    writeln!(w, "slabinfo - version: 2.1")?;
    writeln!(
        w,
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
    )?;
    for c in registry.caches() {
        let s = c.stats();
        write!(
            w,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4}",
            c.name,
            s.active_objs,
            s.num_objs,
            c.size,
            c.objects_per_slab,
            1u32 << c.order
        )?;
        write!(w, " : tunables {:>4} {:>4} {:>4}", 0, 0, 0)?;
        writeln!(w, " : slabdata {:>6} {:>6} {:>6}", s.active_slabs, s.num_slabs, 0)?;
    }
    Ok(())
}
